//! `bench sweep plot_pareto`: every run's output tokens/s per user against per GPU, and the
//! frontier between them, as vLLM's `plot_pareto` draws them.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Args;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use profilemate_plan::sweep::figures::load_runs;
use profilemate_plan::sweep::params::python_str;
use profilemate_plan::sweep::pareto::{pareto_frontier, prepare_points};

use super::{DrawResult, FigFormat, axis_range, fig_path, list, python_float_str, register_font};

/// `bench sweep plot_pareto` flags (vLLM's).
#[derive(Debug, Args)]
pub(crate) struct PlotParetoArgs {
    /// The directory containing the sweep results to plot.
    #[arg(value_name = "EXPERIMENT_DIR")]
    experiment_dir: PathBuf,
    /// The result key holding the concurrent user count (then `request_rate`, then the
    /// observed `max_concurrent_requests`).
    #[arg(long, default_value = "max_concurrency")]
    user_count_var: String,
    /// The result key holding the GPU count (default: TP × PP × DP of the keys present).
    #[arg(long)]
    gpu_count_var: Option<String>,
    /// Comma-separated keys annotated on the frontier's points.
    #[arg(long, default_value = "max_concurrency,gpu_count")]
    label_by: String,
    /// The image format.
    #[arg(long, value_enum, default_value = "png")]
    fig_format: FigFormat,
    /// Print the figure's file, draw nothing.
    #[arg(long)]
    dry_run: bool,
}

/// `bench sweep plot_pareto`.
pub(crate) fn plot_pareto(args: &PlotParetoArgs) -> anyhow::Result<ExitCode> {
    if !args.experiment_dir.exists() {
        bail!(
            "no parameter sweep results under {}",
            args.experiment_dir.display()
        );
    }
    let runs = load_runs(&args.experiment_dir)?;
    let fig_dir = args.experiment_dir.join("pareto");
    std::fs::create_dir_all(&fig_dir)
        .with_context(|| format!("cannot create {}", fig_dir.display()))?;
    let user_var = (!args.user_count_var.is_empty()).then_some(args.user_count_var.as_str());
    let (points, skipped) = prepare_points(&runs, user_var, args.gpu_count_var.as_deref())?;
    if skipped > 0 {
        println!(
            "Skipped {skipped} runs without a user count (`max_concurrency` or `max_concurrent_requests`)."
        );
    }
    if points.is_empty() {
        bail!(
            "no data points with both throughput and user count available to plot the Pareto frontier"
        );
    }
    let path = fig_path(&fig_dir, "PARETO", &[], args.fig_format);
    println!("[BEGIN FIGURE]");
    println!("Group: {{}}");
    println!("Output file: {}", path.display());
    if args.dry_run {
        println!("[END FIGURE]");
        return Ok(ExitCode::SUCCESS);
    }
    register_font()?;
    let front = pareto_frontier(&points);
    let label_by = list(Some(&args.label_by));
    let labels: Vec<String> = front
        .iter()
        .map(|&i| {
            let p = &points[i];
            label_by
                .iter()
                .filter_map(|k| {
                    let value = match k.as_str() {
                        "gpu_count" => Some(python_float_str(p.gpu_count)),
                        "user_count_estimate" => Some(python_float_str(p.user_count)),
                        _ => p.record.get(k).map(python_str),
                    }?;
                    Some(format!("{k}={value}"))
                })
                .collect::<Vec<_>>()
                .join("\n")
        })
        .collect();
    let data = ParetoFigure {
        all: points
            .iter()
            .map(|p| (p.tokens_per_user, p.tokens_per_gpu))
            .filter(|(x, y)| x.is_finite() && y.is_finite())
            .collect(),
        front: front
            .iter()
            .map(|&i| (points[i].tokens_per_user, points[i].tokens_per_gpu))
            .collect(),
        labels,
    };
    let size = (640, 480);
    match args.fig_format {
        FigFormat::Png => draw_pareto(BitMapBackend::new(&path, size).into_drawing_area(), &data)
            .map_err(|e| anyhow::anyhow!("{e}")),
        FigFormat::Svg => draw_pareto(SVGBackend::new(&path, size).into_drawing_area(), &data)
            .map_err(|e| anyhow::anyhow!("{e}")),
    }
    .with_context(|| format!("cannot draw {}", path.display()))?;
    println!(
        "Plotted {} points; Pareto frontier size: {}.",
        data.all.len(),
        data.front.len()
    );
    println!("[END FIGURE]");
    Ok(ExitCode::SUCCESS)
}

struct ParetoFigure {
    all: Vec<(f64, f64)>,
    front: Vec<(f64, f64)>,
    labels: Vec<String>,
}

fn draw_pareto<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    fig: &ParetoFigure,
) -> DrawResult<DB> {
    root.fill(&WHITE)?;
    let xs = axis_range(fig.all.iter().map(|p| p.0), false);
    let ys = axis_range(fig.all.iter().map(|p| p.1), false);
    let mut chart = ChartBuilder::on(&root)
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(xs.0..xs.1, ys.0..ys.1)?;
    chart
        .configure_mesh()
        .x_desc("Tokens/s/user")
        .y_desc("Tokens/s/GPU")
        .label_style(("sans-serif", 12))
        .light_line_style(BLACK.mix(0.05))
        .draw()?;
    let grey = RGBColor(128, 128, 128).mix(0.6);
    chart
        .draw_series(fig.all.iter().map(|&p| Circle::new(p, 4, grey.filled())))?
        .label("All runs")
        .legend(move |(x, y)| Circle::new((x + 10, y), 4, grey.filled()));
    let blue = RGBColor(31, 119, 180);
    chart
        .draw_series(
            LineSeries::new(fig.front.iter().copied(), blue.stroke_width(2)).point_size(4),
        )?
        .label("Pareto frontier")
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], blue.stroke_width(2)));
    for (p, text) in fig.front.iter().zip(&fig.labels) {
        // Labels of points in the right quarter go to their left, so they stay in the figure.
        let left = p.0 > xs.0 + 0.75 * (xs.1 - xs.0);
        let (dx, anchor) = if left {
            (-4, Pos::new(HPos::Right, VPos::Top))
        } else {
            (4, Pos::new(HPos::Left, VPos::Top))
        };
        for (line, part) in text.lines().enumerate() {
            let style = TextStyle::from(("sans-serif", 10).into_font()).pos(anchor);
            chart.draw_series(std::iter::once(
                EmptyElement::at(*p)
                    + Text::new(part.to_string(), (dx, 4 + 10 * line as i32), style),
            ))?;
        }
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .label_font(("sans-serif", 12))
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;
    root.present()
}
