fn main() -> std::process::ExitCode {
    handbill::cli::main()
}
