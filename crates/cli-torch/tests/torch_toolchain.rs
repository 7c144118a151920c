//! Proves the libtorch toolchain: tch links against the pinned libtorch, runs an operation and its
//! autograd, and the version is the one the project pins.

use tch::{Kind, Tensor};

#[test]
fn tch_runs_an_operation_and_its_gradient() {
    let x = Tensor::from_slice(&[1.0f32, 2.0, 3.0]).set_requires_grad(true);
    let y = (&x * &x).sum(Kind::Float);
    y.backward();
    let grad: Vec<f32> = Vec::try_from(x.grad()).expect("gradient as Vec<f32>");
    assert_eq!(grad, vec![2.0, 4.0, 6.0]);
    assert_eq!(f32::try_from(&y).expect("scalar"), 14.0);
}

#[test]
fn libtorch_is_the_pinned_version() {
    // torch-sys refuses other versions at build time; this checks the run-time library agrees.
    let lib = std::env::var("LIBTORCH").expect("LIBTORCH is exported by scripts/env.sh");
    let version = std::path::Path::new(&lib).join("version.py");
    let text = std::fs::read_to_string(&version).expect("torch/version.py of the wheel");
    assert!(
        text.contains("__version__ = '2.11.0"),
        "{} does not name 2.11.0",
        version.display()
    );
    let m = Tensor::eye(3, (Kind::Float, tch::Device::Cpu))
        .matmul(&Tensor::ones([3, 2], (Kind::Float, tch::Device::Cpu)));
    assert_eq!(m.size(), vec![3, 2]);
}
