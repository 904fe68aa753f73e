//! Temporary renderer until the template branch lands.
use crate::report::Report;
/// Output formats.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Format {
    /// json
    Json,
    /// text
    Text,
    /// html
    Html,
    /// md
    Markdown,
}
/// Extras.
#[derive(Default)]
pub struct RenderExtras;
/// Renderer.
pub struct Renderer;
impl Renderer {
    /// New.
    pub fn new(_d: Option<&std::path::Path>) -> Result<Self, String> {
        Ok(Renderer)
    }
    /// Render.
    pub fn render(&self, _f: Format, r: &Report, _e: &RenderExtras) -> Result<String, String> {
        Ok(serde_json::to_string_pretty(r).unwrap() + "\n")
    }
}
