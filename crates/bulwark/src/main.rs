//! The `bulwark` command.
fn main() -> std::process::ExitCode {
    bulwark::run()
}
