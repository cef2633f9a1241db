//! The artifact module's own tests: publishing, abandoning, caps, checks, partials, sweeps.

use super::*;

fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn a_finished_artifact_is_published_with_its_size_rows_and_checksum() {
    let dir = tempfile::tempdir().unwrap();
    let mut writer = Writer::create(dir.path(), "export_1.csv", None).unwrap();
    writer.write(b"a,b\r\n").unwrap();
    writer.write_row(b"1,2\r\n").unwrap();
    writer.write_row(b"3,4\r\n").unwrap();
    assert_eq!(names(dir.path()).len(), 1);
    assert!(
        names(dir.path())[0].starts_with(".export_1.csv."),
        "only a temp file while writing"
    );
    let durable = writer.finish().unwrap();
    assert_eq!(names(dir.path()), vec!["export_1.csv".to_string()]);
    assert_eq!(durable.bytes, 15);
    assert_eq!(durable.rows, 2);
    assert_eq!(
        durable.sha256,
        hex(&Sha256::digest(b"a,b\r\n1,2\r\n3,4\r\n"))
    );
    assert_eq!(
        std::fs::read(&durable.path).unwrap(),
        b"a,b\r\n1,2\r\n3,4\r\n"
    );
    assert_eq!(
        check(dir.path(), "export_1.csv", 15, &durable.sha256).unwrap(),
        Check::Intact
    );
}

#[test]
fn an_abandoned_writer_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let mut writer = Writer::create(dir.path(), "import_1.ndjson", None).unwrap();
    writer.write_row(b"{}\n").unwrap();
    drop(writer);
    assert!(names(dir.path()).is_empty());
}

#[test]
fn the_size_cap_stops_a_write_before_it_passes_the_cap() {
    let dir = tempfile::tempdir().unwrap();
    let mut writer = Writer::create(dir.path(), "big.json", Some(10)).unwrap();
    writer.write_row(b"[1,2,3,4,").unwrap();
    let error = writer.write_row(b"5,6]").unwrap_err();
    assert!(matches!(error, Error::TooLarge { cap: 10, .. }), "{error}");
    drop(writer);
    assert!(names(dir.path()).is_empty(), "no partial file is left");
}

#[test]
fn checks_find_missing_truncated_and_altered_files() {
    let dir = tempfile::tempdir().unwrap();
    let mut writer = Writer::create(dir.path(), "a.csv", None).unwrap();
    writer.write_row(b"x\r\n").unwrap();
    let durable = writer.finish().unwrap();
    assert_eq!(
        check(dir.path(), "gone.csv", 3, &durable.sha256).unwrap(),
        Check::Missing
    );
    std::fs::write(&durable.path, b"x\r").unwrap();
    assert!(matches!(
        check(dir.path(), "a.csv", 3, &durable.sha256).unwrap(),
        Check::Corrupt(_)
    ));
    std::fs::write(&durable.path, b"y\r\n").unwrap();
    assert!(matches!(
        check(dir.path(), "a.csv", 3, &durable.sha256).unwrap(),
        Check::Corrupt(_)
    ));
}

#[test]
fn a_partial_survives_its_writer_and_resumes_to_the_same_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let mut whole = Writer::create(dir.path(), "whole.csv", None).unwrap();
    for row in [&b"h\r\n"[..], b"1\r\n", b"2\r\n", b"3\r\n"] {
        whole.write(row).unwrap();
    }
    let whole = whole.finish().unwrap();

    let mut first = Writer::partial(dir.path(), ".e_1_a.partial", "e_1.csv", None, None).unwrap();
    first.write(b"h\r\n").unwrap();
    first.write_row(b"1\r\n").unwrap();
    let checkpoint = first.sync().unwrap();
    // Written after the checkpoint, never recorded: the resumed writer must not take it.
    first.write_row(b"2\r\n").unwrap();
    drop(first);
    let old = dir.path().join(".e_1_a.partial");
    assert!(old.exists(), "a partial outlives its writer");
    let mut resumed = Writer::partial(
        dir.path(),
        ".e_1_b.partial",
        "e_1.csv",
        None,
        Some((&old, checkpoint, 1)),
    )
    .unwrap();
    resumed.write_row(b"2\r\n").unwrap();
    resumed.write_row(b"3\r\n").unwrap();
    let done = resumed.finish().unwrap();
    assert_eq!(done.rows, 3);
    assert_eq!(done.sha256, whole.sha256);
    assert_eq!(
        std::fs::read(&done.path).unwrap(),
        std::fs::read(&whole.path).unwrap()
    );
    let mut aborted = Writer::partial(dir.path(), ".e_2.partial", "e_2.csv", None, None).unwrap();
    aborted.write(b"x").unwrap();
    aborted.abort();
    assert!(!dir.path().join(".e_2.partial").exists());
}

#[test]
fn names_with_directories_or_leading_dots_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    for bad in ["../x.csv", "a/b.csv", ".hidden", ""] {
        assert!(matches!(
            Writer::create(dir.path(), bad, None),
            Err(Error::Name(_))
        ));
    }
}

#[test]
fn the_sweep_removes_dead_writers_temp_files_and_old_orphans_only() {
    let dir = tempfile::tempdir().unwrap();
    // A temp file of a process that cannot exist (pid above the kernel's maximum), one of this process, a
    // published file a job refers to, and one nobody refers to.
    std::fs::write(dir.path().join(".x.csv.4294967295.abc.tmp"), b"partial").unwrap();
    let mine = Writer::create(dir.path(), "mine.csv", None).unwrap();
    std::fs::write(dir.path().join("kept.csv"), b"k").unwrap();
    std::fs::write(dir.path().join("orphan.csv"), b"o").unwrap();
    let _lock = lock(dir.path()).unwrap();
    let swept = sweep(dir.path(), Duration::from_secs(3600), |n| n == "kept.csv").unwrap();
    assert_eq!(swept.temps, vec![".x.csv.4294967295.abc.tmp".to_string()]);
    assert!(
        swept.orphans.is_empty(),
        "orphans wait for the grace period"
    );
    let swept = sweep(dir.path(), Duration::ZERO, |n| n == "kept.csv").unwrap();
    assert_eq!(swept.orphans, vec!["orphan.csv".to_string()]);
    assert_eq!(
        swept.temps.len(),
        1,
        "past the grace period, every temp file goes"
    );
    drop(mine);
    let left = names(dir.path());
    assert!(left.contains(&"kept.csv".to_string()), "{left:?}");
    assert!(!left.contains(&"orphan.csv".to_string()), "{left:?}");
}
