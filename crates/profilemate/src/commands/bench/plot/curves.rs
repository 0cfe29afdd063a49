//! `bench sweep plot`: one figure per `--fig-by` group, a grid of subplots by `--row-by` and
//! `--col-by`, one curve per `--curve-by` group, as vLLM's seaborn `relplot` lays them out.

use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use plotters::coord::Shift;
use plotters::coord::ranged1d::{AsRangedCoord, Ranged, ValueFormatter};
use plotters::prelude::*;
use profilemate_plan::sweep::figures::{
    PlotBinner, PlotFilter, Run, check_variables, curve_points, group_runs, load_runs,
};
use std::path::PathBuf;

use super::{DrawResult, FigFormat, axis_range, fig_path, group_text, list, register_font};

/// An axis scale.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum AxisScale {
    /// Linear.
    Linear,
    /// Base-10 logarithmic.
    Log,
}

/// `bench sweep plot` flags (vLLM's).
#[derive(Debug, Args)]
pub(crate) struct PlotArgs {
    /// The directory containing the sweep results to plot.
    #[arg(value_name = "EXPERIMENT_DIR")]
    experiment_dir: PathBuf,
    /// The directory to save the figures in, relative to EXPERIMENT_DIR (default: itself).
    #[arg(long)]
    fig_dir: Option<PathBuf>,
    /// Comma-separated variables: one figure per combination of their values.
    #[arg(long)]
    fig_by: Option<String>,
    /// Comma-separated variables: one row of subplots per combination.
    #[arg(long)]
    row_by: Option<String>,
    /// Comma-separated variables: one column of subplots per combination.
    #[arg(long)]
    col_by: Option<String>,
    /// Comma-separated variables: one curve per combination.
    #[arg(long)]
    curve_by: Option<String>,
    /// The variable on the x axis.
    #[arg(long, default_value = "total_token_throughput")]
    var_x: String,
    /// The variable on the y axis.
    #[arg(long, default_value = "median_ttft_ms")]
    var_y: String,
    /// Comma-separated filters, e.g. `max_concurrency<1000,max_num_batched_tokens<=4096`
    /// (operators ==, !=, <, <=, >, >=).
    #[arg(long)]
    filter_by: Option<String>,
    /// Comma-separated bins, e.g. `request_throughput%1` (a bin width of 1).
    #[arg(long)]
    bin_by: Option<String>,
    /// The x axis's scale.
    #[arg(long, value_enum)]
    scale_x: Option<AxisScale>,
    /// The y axis's scale.
    #[arg(long, value_enum)]
    scale_y: Option<AxisScale>,
    /// The figure files' name prefix (the group's values are appended).
    #[arg(long, default_value = "FIGURE")]
    fig_name: String,
    /// Draw no error bars (by default: ± one standard deviation over repeated runs).
    #[arg(long)]
    no_error_bars: bool,
    /// Height (and width) of each subplot in inches.
    #[arg(long, default_value_t = 6.4)]
    fig_height: f64,
    /// Dots per inch.
    #[arg(long, default_value_t = 300)]
    fig_dpi: u32,
    /// The image format.
    #[arg(long, value_enum, default_value = "png")]
    fig_format: FigFormat,
    /// Print each figure's groups and file, draw nothing.
    #[arg(long)]
    dry_run: bool,
}

/// `bench sweep plot`.
pub(crate) fn plot(args: &PlotArgs) -> anyhow::Result<ExitCode> {
    if !args.experiment_dir.exists() {
        bail!(
            "no parameter sweep results under {}",
            args.experiment_dir.display()
        );
    }
    if !(args.fig_height.is_finite() && args.fig_height > 0.0) || args.fig_dpi == 0 {
        bail!("--fig-height and --fig-dpi must be positive");
    }
    let filters = PlotFilter::parse_list(args.filter_by.as_deref().unwrap_or_default())?;
    let binners = PlotBinner::parse_list(args.bin_by.as_deref().unwrap_or_default())?;
    let (fig_by, row_by, col_by, curve_by) = (
        list(args.fig_by.as_deref()),
        list(args.row_by.as_deref()),
        list(args.col_by.as_deref()),
        list(args.curve_by.as_deref()),
    );
    let runs = load_runs(&args.experiment_dir)?;
    let fig_dir = match &args.fig_dir {
        Some(dir) => args.experiment_dir.join(dir),
        None => args.experiment_dir.clone(),
    };
    std::fs::create_dir_all(&fig_dir)
        .with_context(|| format!("cannot create {}", fig_dir.display()))?;
    register_font()?;
    for (group, members) in group_runs(&runs, &fig_by) {
        let rows = group_runs(members.iter().copied(), &row_by);
        let cols = rows
            .iter()
            .map(|(_, r)| group_runs(r.iter().copied(), &col_by).len())
            .max()
            .unwrap_or(1);
        let path = fig_path(&fig_dir, &args.fig_name, &group, args.fig_format);
        println!("[BEGIN FIGURE]");
        println!("Group: {}", group_text(&group));
        println!("Grid: {} rows x {cols} cols", rows.len());
        println!("Output file: {}", path.display());
        if args.dry_run {
            println!("[END FIGURE]");
            continue;
        }
        let mut named: Vec<(&'static str, &str)> =
            vec![("var_x", &args.var_x), ("var_y", &args.var_y)];
        named.extend(row_by.iter().map(|k| ("row_by", k.as_str())));
        named.extend(col_by.iter().map(|k| ("col_by", k.as_str())));
        named.extend(curve_by.iter().map(|k| ("curve_by", k.as_str())));
        check_variables(&members, &named)?;
        let mut kept: Vec<Run> = Vec::new();
        for run in &members {
            let mut keep = true;
            for f in &filters {
                keep &= f.keeps(run)?;
            }
            if keep {
                let mut run = (*run).clone();
                binners.iter().for_each(|b| b.apply(&mut run));
                kept.push(run);
            }
        }
        if kept.is_empty() {
            println!(
                "No data to plot. Filters: {}",
                args.filter_by.as_deref().unwrap_or_default()
            );
            println!("[END FIGURE]");
            continue;
        }
        let facets = facets(&kept, &row_by, &col_by, &curve_by, args);
        let side = (args.fig_height * f64::from(args.fig_dpi)).round() as u32;
        let size = (side * facets.cols as u32, side * facets.rows.len() as u32);
        match args.fig_format {
            FigFormat::Png => draw_facets(
                BitMapBackend::new(&path, size).into_drawing_area(),
                &facets,
                args,
            )
            .map_err(|e| anyhow::anyhow!("{e}")),
            FigFormat::Svg => draw_facets(
                SVGBackend::new(&path, size).into_drawing_area(),
                &facets,
                args,
            )
            .map_err(|e| anyhow::anyhow!("{e}")),
        }
        .with_context(|| format!("cannot draw {}", path.display()))?;
        println!("[END FIGURE]");
    }
    Ok(ExitCode::SUCCESS)
}

/// One curve in a subplot: its label and (x, mean y, sd) points.
struct Curve {
    label: String,
    points: Vec<(f64, f64, f64)>,
}

/// One subplot: its title and curves.
struct Facet {
    title: String,
    curves: Vec<Curve>,
}

/// A figure's subplots, row by row.
struct Facets {
    rows: Vec<Vec<Facet>>,
    cols: usize,
}

fn facets(
    runs: &[Run],
    row_by: &[String],
    col_by: &[String],
    curve_by: &[String],
    args: &PlotArgs,
) -> Facets {
    let label = |group: &[(String, String)]| {
        group
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut rows = Vec::new();
    let mut cols = 1;
    for (row_group, row_runs) in group_runs(runs, row_by) {
        let mut row = Vec::new();
        for (col_group, col_runs) in group_runs(row_runs.iter().copied(), col_by) {
            let mut curve_groups = group_runs(col_runs.iter().copied(), curve_by);
            // seaborn orders the legend by the curve variables' values.
            curve_groups.sort_by(|a, b| a.0.cmp(&b.0));
            let curves = curve_groups
                .into_iter()
                .map(|(g, members)| Curve {
                    label: if g.is_empty() {
                        String::new()
                    } else {
                        label(&g)
                    },
                    points: curve_points(&members, &args.var_x, &args.var_y),
                })
                .collect();
            let title = [label(&row_group), label(&col_group)]
                .into_iter()
                .filter(|t| !t.is_empty())
                .collect::<Vec<_>>()
                .join(" | ");
            row.push(Facet { title, curves });
        }
        cols = cols.max(row.len());
        rows.push(row);
    }
    Facets { rows, cols }
}

fn draw_facets<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    facets: &Facets,
    args: &PlotArgs,
) -> DrawResult<DB> {
    root.fill(&WHITE)?;
    let areas = root.split_evenly((facets.rows.len(), facets.cols));
    for (r, row) in facets.rows.iter().enumerate() {
        for (c, facet) in row.iter().enumerate() {
            let area = &areas[r * facets.cols + c];
            let all = facet.curves.iter().flat_map(|c| &c.points);
            let log_x = args.scale_x == Some(AxisScale::Log);
            let log_y = args.scale_y == Some(AxisScale::Log);
            let xs = axis_range(all.clone().map(|p| p.0), log_x);
            let ys = axis_range(all.flat_map(|p| [p.1 - p.2, p.1 + p.2]), log_y);
            match (log_x, log_y) {
                (false, false) => draw_facet(area, facet, xs.0..xs.1, ys.0..ys.1, args)?,
                (true, false) => {
                    draw_facet(area, facet, (xs.0..xs.1).log_scale(), ys.0..ys.1, args)?
                }
                (false, true) => {
                    draw_facet(area, facet, xs.0..xs.1, (ys.0..ys.1).log_scale(), args)?
                }
                (true, true) => draw_facet(
                    area,
                    facet,
                    (xs.0..xs.1).log_scale(),
                    (ys.0..ys.1).log_scale(),
                    args,
                )?,
            }
        }
    }
    root.present()
}

fn draw_facet<DB, X, Y>(
    area: &DrawingArea<DB, Shift>,
    facet: &Facet,
    x: impl AsRangedCoord<CoordDescType = X, Value = f64>,
    y: impl AsRangedCoord<CoordDescType = Y, Value = f64>,
    args: &PlotArgs,
) -> DrawResult<DB>
where
    DB: DrawingBackend,
    X: Ranged<ValueType = f64> + ValueFormatter<f64>,
    Y: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    let (w, h) = area.dim_in_pixel();
    let font = (f64::from(h.min(w)) / 30.0).max(10.0);
    let mut chart = ChartBuilder::on(area)
        .caption(&facet.title, ("sans-serif", font * 1.2))
        .margin((font * 0.8) as u32)
        .x_label_area_size((font * 3.0) as u32)
        .y_label_area_size((font * 4.5) as u32)
        .build_cartesian_2d(x, y)?;
    chart
        .configure_mesh()
        .x_desc(&args.var_x)
        .y_desc(&args.var_y)
        .label_style(("sans-serif", font))
        .axis_desc_style(("sans-serif", font * 1.1))
        .light_line_style(BLACK.mix(0.05))
        .draw()?;
    let stroke = (font / 6.0).max(1.0) as u32;
    let mut labelled = false;
    for (i, curve) in facet.curves.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        let line = LineSeries::new(
            curve.points.iter().map(|p| (p.0, p.1)),
            color.stroke_width(stroke),
        )
        .point_size(stroke * 2);
        let series = chart.draw_series(line)?;
        if !curve.label.is_empty() {
            labelled = true;
            series.label(curve.label.clone()).legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(stroke))
            });
        }
        if !args.no_error_bars {
            chart.draw_series(curve.points.iter().filter(|p| p.2 > 0.0).map(|p| {
                PathElement::new(
                    vec![(p.0, p.1 - p.2), (p.0, p.1 + p.2)],
                    color.stroke_width(stroke),
                )
            }))?;
        }
    }
    if labelled {
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .label_font(("sans-serif", font))
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()?;
    }
    Ok(())
}
