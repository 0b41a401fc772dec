fn main() -> std::process::ExitCode {
    ciliumon::commands::main(std::env::args_os())
}
