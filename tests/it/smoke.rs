use crate::support::bin;

#[test]
fn version_and_help() {
    let out = bin().arg("--version").output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("ciliumon "));
    let out = bin().arg("--help").output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("plan"));
}

#[test]
fn unknown_flag_is_bad_input() {
    let out = bin().args(["plan", "--no-such-flag"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}
