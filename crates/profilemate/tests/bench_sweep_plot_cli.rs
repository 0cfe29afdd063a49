//! `bench sweep plot` and `plot_pareto` over a small checked-in sweep output
//! (`testdata/sweep-small`, vLLM's layout: one `summary.json` per combination).

mod util;
use util::{fails_naming, success_stdout};

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::Value;

/// A copy of the checked-in sweep (the plots are written beside the results).
fn sweep_copy(name: &str) -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/sweep-small");
    let dir = std::env::temp_dir().join(format!("pm-plot-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    for entry in std::fs::read_dir(&src).unwrap() {
        let combo = entry.unwrap().path();
        if !combo.is_dir() {
            continue;
        }
        let to = dir.join(combo.file_name().unwrap());
        std::fs::create_dir_all(&to).unwrap();
        std::fs::copy(combo.join("summary.json"), to.join("summary.json")).unwrap();
    }
    dir
}

fn profilemate(args: &[&str], dir: &Path) -> std::process::Output {
    Command::cargo_bin("profilemate")
        .unwrap()
        .args(["bench", "sweep"])
        .arg(args[0])
        .arg(dir)
        .args(&args[1..])
        .output()
        .unwrap()
}

/// Width, height and RGBA pixels of a PNG.
fn decode_png(path: &Path) -> (u32, u32, Vec<[u8; 4]>) {
    let decoder = png::Decoder::new(std::fs::File::open(path).unwrap());
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    let channels = info.color_type.samples();
    let pixels = buf[..info.buffer_size()]
        .chunks(channels)
        .map(|p| match channels {
            3 => [p[0], p[1], p[2], 255],
            _ => [p[0], p[1], p[2], p[3]],
        })
        .collect();
    (info.width, info.height, pixels)
}

/// Pixels close to `rgb`.
fn count_near(pixels: &[[u8; 4]], rgb: [u8; 3]) -> usize {
    pixels
        .iter()
        .filter(|p| (0..3).all(|i| p[i].abs_diff(rgb[i]) <= 8))
        .count()
}

#[test]
fn plot_draws_one_figure_per_group_with_its_curves() {
    let dir = sweep_copy("curves");
    let out = profilemate(
        &[
            "plot",
            "--curve-by",
            "max_num_seqs",
            "--var-x",
            "max_concurrency",
            "--var-y",
            "mean_ttft_ms",
            "--fig-dpi",
            "50",
        ],
        &dir,
    );
    let stdout = success_stdout(&out);
    assert!(stdout.contains("Grid: 1 rows x 1 cols"), "{stdout}");
    let (w, h, pixels) = decode_png(&dir.join("FIGURE.png"));
    // One 6.4-inch subplot at 50 dpi.
    assert_eq!((w, h), (320, 320));
    // Two curves in the palette's first two colours (Palette99: red, then green).
    assert!(count_near(&pixels, [230, 25, 75]) > 50, "no first curve");
    assert!(count_near(&pixels, [60, 180, 75]) > 50, "no second curve");

    // One SVG per max_num_seqs, two rows of subplots (one per max_concurrency) in each.
    let out = profilemate(
        &[
            "plot",
            "--fig-by",
            "max_num_seqs",
            "--row-by",
            "max_concurrency",
            "--var-x",
            "request_throughput",
            "--var-y",
            "p99_ttft_ms",
            "--filter-by",
            "max_concurrency>=4",
            "--fig-format",
            "svg",
            "--fig-name",
            "ttft",
        ],
        &dir,
    );
    let stdout = success_stdout(&out);
    // As vLLM does, the grid is announced before filtering (three concurrencies)…
    assert_eq!(
        stdout.matches("Grid: 3 rows x 1 cols").count(),
        2,
        "{stdout}"
    );
    for seqs in [4, 16] {
        let svg =
            std::fs::read_to_string(dir.join(format!("ttft-max_num_seqs={seqs}.svg"))).unwrap();
        // …and drawn after it: two rows of 6.4-inch subplots at 300 dpi.
        assert!(
            svg.starts_with(r#"<svg width="1920" height="3840""#),
            "{svg:.100}"
        );
        // The subplots' titles: the rows left after the filter.
        let mut titles: Vec<&str> = svg
            .lines()
            .filter(|l| l.starts_with("max_concurrency="))
            .collect();
        titles.sort_unstable();
        assert_eq!(
            titles,
            ["max_concurrency=16", "max_concurrency=4"],
            "{svg:.300}"
        );
        assert!(svg.contains("p99_ttft_ms") && svg.contains("request_throughput"));
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// (tokens/s/user, tokens/s/GPU) of every checked-in run, worked out here from the files.
fn expected_points(dir: &Path) -> Vec<(f64, f64)> {
    let mut points = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path().join("summary.json");
        let runs: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        for run in runs.as_array().unwrap() {
            let tput = run["output_throughput"].as_f64().unwrap();
            let users = run["max_concurrency"].as_f64().unwrap();
            // No tensor/pipeline/data parallel keys: one GPU.
            points.push((tput / users, tput));
        }
    }
    points
}

#[test]
fn plot_pareto_draws_the_frontier_of_the_runs() {
    let dir = sweep_copy("pareto");
    let points = expected_points(&dir);
    // vLLM's rule: off the frontier when another run has at least as many tokens/s/user and
    // more tokens/s/GPU.
    let front = points
        .iter()
        .filter(|p| !points.iter().any(|q| q.0 >= p.0 && q.1 > p.1))
        .count();
    assert!(
        front >= 2 && front < points.len(),
        "a frontier worth drawing"
    );
    let out = profilemate(&["plot_pareto"], &dir);
    let stdout = success_stdout(&out);
    assert!(
        stdout.contains(&format!(
            "Plotted {} points; Pareto frontier size: {front}.",
            points.len()
        )),
        "{stdout}"
    );
    let (w, h, pixels) = decode_png(&dir.join("pareto/PARETO.png"));
    assert_eq!((w, h), (640, 480));
    // The frontier's line (matplotlib's first blue) and the runs' grey points.
    assert!(count_near(&pixels, [31, 119, 180]) > 200);
    assert!(count_near(&pixels, [179, 179, 179]) > 50);

    let out = profilemate(&["plot_pareto", "--fig-format", "svg", "--dry-run"], &dir);
    assert!(success_stdout(&out).contains("PARETO.svg"));
    assert!(
        !dir.join("pareto/PARETO.svg").exists(),
        "a dry run draws nothing"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_input_is_refused_in_one_line() {
    let dir = sweep_copy("bad");
    let d = dir.display().to_string();
    fails_naming(
        &["bench", "sweep", "plot", &d, "--var-y", "nope_ms"],
        &["cannot find var_y=\"nope_ms\""],
    );
    fails_naming(
        &[
            "bench",
            "sweep",
            "plot",
            &d,
            "--filter-by",
            "max_concurrency~4",
        ],
        &["invalid plot filter", "valid operators"],
    );
    fails_naming(
        &["bench", "sweep", "plot_pareto", "/nonexistent/sweep"],
        &["no parameter sweep results under /nonexistent/sweep"],
    );
    let empty = dir.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    fails_naming(
        &["bench", "sweep", "plot", &empty.display().to_string()],
        &["did not find any parameter sweep results"],
    );
    let _ = std::fs::remove_dir_all(&dir);
}
