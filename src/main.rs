fn main() -> std::process::ExitCode {
    villa_telemetry::cli::main()
}
