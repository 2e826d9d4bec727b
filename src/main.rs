fn main() {
    std::process::exit(demandlink::cli::main());
}
