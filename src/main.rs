fn main() {
    demandlink::hugepages::restart_with_huge_pages();
    std::process::exit(demandlink::cli::main());
}
