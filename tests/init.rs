//! `kubebake init`: the spec it writes validates and bakes as written, for the choices a
//! user most often makes; bad flags are named and nothing is written.

mod common;

use std::fs;

use common::*;

#[test]
fn the_default_spec_validates_and_bakes_as_written() {
    let b = Bake::new("");
    let run = b.run(&["init"]);
    run.assert_ok();
    b.set_spec(&run.stdout());
    assert!(run.stdout().contains("# How every node and client reaches the API."));
    b.run(&["validate", "cluster.yaml"]).assert_ok();
    b.bake(&[]).assert_ok();
    for node in ["cp-1", "worker-1", "worker-2"] {
        assert!(b.out().join(node).join("user-data").is_file(), "{node}");
    }
}

#[test]
fn an_ha_spec_from_flags_to_a_file() {
    let b = Bake::new("");
    fs::remove_file(b.spec_path()).unwrap();
    let args = |workers: &'static str| {
        vec![
            "init",
            "--name",
            "prod",
            "--control-planes",
            "3",
            "--workers",
            workers,
            "--first-address",
            "10.1.0.11",
            "--endpoint",
            "k8s-api.prod.internal:6443",
            "--os",
            "flatcar",
            "--cni",
            "none",
            "-o",
            "cluster.yaml",
        ]
    };
    let run = b.run(&args("12"));
    run.assert_ok();
    assert!(run.stderr().contains("wrote cluster.yaml"), "{}", run.stderr());
    let text = fs::read_to_string(b.spec_path()).unwrap();
    let spec = yaml_value(&text);
    assert_eq!(spec["metadata"]["name"], "prod");
    assert_eq!(spec["spec"]["controlPlaneEndpoint"], "k8s-api.prod.internal:6443");
    let nodes = spec["spec"]["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 15);
    assert_eq!(nodes[2]["address"], "10.1.0.13");
    assert_eq!(nodes[3]["name"], "worker-1");
    assert_eq!(nodes[3]["address"], "10.1.0.21");
    b.bake(&[]).assert_ok();
    assert!(b.out().join("cp-3/config.ign").is_file(), "flatcar nodes get Ignition");

    // The file is kept unless --force.
    let run = b.run(&args("1"));
    assert!(!run.ok() && run.stderr().contains("exists; pass --force"), "{}", run.stderr());
    assert_eq!(fs::read_to_string(b.spec_path()).unwrap(), text);
    let mut forced = args("1");
    forced.push("--force");
    b.run(&forced).assert_ok();
    let spec = yaml_value(&fs::read_to_string(b.spec_path()).unwrap());
    assert_eq!(spec["spec"]["nodes"].as_array().unwrap().len(), 4);
}

#[test]
fn flags_that_make_no_valid_spec_are_named_and_nothing_is_written() {
    let b = Bake::new("");
    for (args, says) in [
        (&["init", "--control-planes", "0", "-o", "x.yaml"][..], "--control-planes"),
        (&["init", "--pod-subnet", "10.96.0.0/16", "-o", "x.yaml"][..], "overlaps spec.networking.podSubnet"),
        (&["init", "--first-address", "255.255.255.250", "--workers", "3", "-o", "x.yaml"][..], "no room for worker-1"),
        (&["init", "--name", "Not_A_Name", "-o", "x.yaml"][..], "metadata.name"),
        (&["init", "--os", "windows", "-o", "x.yaml"][..], "spec.os"),
        (&["init", "--first-address", "ten", "-o", "x.yaml"][..], "--first-address"),
    ] {
        let run = b.run(args);
        assert!(!run.ok(), "{args:?}");
        assert!(run.stderr().contains(says), "{args:?}: {}", run.stderr());
        assert!(!b.path("x.yaml").exists(), "{args:?} wrote a file");
    }
}
