// Embeds an rpath to the libtorch this crate was built against (found through torch-sys), so the
// binaries and test binaries run without LD_LIBRARY_PATH; the second entry is the PyTorch install
// of the GPU machines, harmless where it does not exist.
fn main() {
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    if let Ok(lib) = std::env::var("DEP_TCH_LIBTORCH_LIB") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{lib}");
    }
    println!(
        "cargo:rustc-link-arg=-Wl,-rpath,/opt/torch/.venv/lib/python3.12/site-packages/torch/lib"
    );
}
