//! Every shipped run configuration in configs/ loads, validates and names its optimizer.

use oneshot::{OptimizerKind, SearchConfig};

#[test]
fn shipped_configs_load_and_validate() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs");
    let mut files: Vec<_> = ["", "bohb"]
        .iter()
        .flat_map(|sub| std::fs::read_dir(root.join(sub)).unwrap())
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 9,
        "expected the paper's configs, found {files:?}"
    );
    for f in &files {
        let cfg = SearchConfig::load(Some(f), None, None).unwrap_or_else(|e| panic!("{e}"));
        let stem = f.file_stem().unwrap().to_string_lossy().to_string();
        if let Some(kind) = OptimizerKind::parse(stem.trim_end_matches("_second_order")) {
            assert_eq!(cfg.optimizer, kind.name(), "{}", f.display());
        }
        if let Some(r) = oneshot::registry::REGISTRY.iter().find(|r| r.name == stem) {
            assert_eq!(cfg.optimizer, r.name, "{}", f.display());
        }
        if cfg.optimizer == "pc_darts" {
            assert_eq!(cfg.model.partial_channels, Some(4), "{}", f.display());
        }
        // The paper's runs keep the checkpoints its correlation study evaluates (spec §4.3).
        let in_root = f.parent().is_some_and(|p| p.ends_with("configs"));
        if in_root && stem != "demo" {
            assert_eq!(
                cfg.keep_checkpoints,
                vec![5, 15, 25, 35, 45],
                "{}",
                f.display()
            );
            assert!(cfg.keep_checkpoints.iter().all(|&e| e < cfg.epochs));
        }
    }
    let second =
        SearchConfig::load(Some(&root.join("darts_second_order.toml")), None, None).unwrap();
    assert_eq!(second.arch.order, oneshot::config::ArchOrder::Second);
}

/// The code defaults are the paper's setup: each built-in optimizer's shipped config differs
/// from `SearchConfig::defaults` only in the seed (the cluster scripts' first one).
#[test]
fn code_defaults_equal_the_paper_configs() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs");
    for kind in [
        OptimizerKind::Darts,
        OptimizerKind::Gdas,
        OptimizerKind::PcDarts,
        OptimizerKind::Enas,
        OptimizerKind::RandomWs,
    ] {
        let file = root.join(format!("{}.toml", kind.name()));
        let mut shipped = SearchConfig::load(Some(&file), None, None).unwrap();
        let defaults = SearchConfig::from_toml("", "defaults", Some(kind.name()), Some(3)).unwrap();
        shipped.seed = defaults.seed;
        assert_eq!(shipped, defaults, "{}", file.display());
    }
    let d = SearchConfig::from_toml("", "defaults", Some("darts"), Some(1)).unwrap();
    assert_eq!(
        (d.model.bn_momentum, d.model.downsample_padding),
        (0.997, 1)
    );
    assert!(d.model.run_all_ops && !d.model.fuse_projections);
    assert_eq!(d.data.cutout_prob, 1.0);
    let g = SearchConfig::from_toml("", "defaults", Some("gdas"), Some(1)).unwrap();
    assert!(!g.model.run_all_ops, "GDAS runs only the drawn op");
}
