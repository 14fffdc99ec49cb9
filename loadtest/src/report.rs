//! The results: a Markdown table, a JSON file, and an SVG chart of CPU-us per request.

use std::fmt::Write as _;

use crate::measure::Figures;

/// One measured cell for one proxy.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Row {
    /// `sluice` or `nginx`.
    pub proxy: String,
    /// Worker threads (Sluice) or worker processes (nginx).
    pub workers: usize,
    /// `keepalive` or `close` (a new connection per request).
    pub mode: String,
    /// Client connections.
    pub conns: usize,
    /// Ingresses (server blocks) in the table.
    pub ingresses: usize,
    /// What was measured.
    #[serde(flatten)]
    pub figures: Figures,
}

impl Row {
    fn cell(&self) -> String {
        format!("{}w {} c{} t{}", self.workers, self.mode, self.conns, self.ingresses)
    }
}

/// The Markdown table: per cell, nginx, bare Pingora and Sluice, with Sluice's CPU per request
/// over each of the other two.
pub fn markdown(rows: &[Row]) -> String {
    let mut out = String::from(
        "| workers | client | conns | ingresses | proxy | CPU-us/req | user | kernel | syscalls/req | RPS | p50 ms | p99 ms | p50 ms at half load | p99 ms at half load | errors | Sluice/nginx CPU | Sluice/Pingora CPU |\n\
         |---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    let cpu_of = |proxy: &str, cell: &str| {
        rows.iter().find(|n| n.proxy == proxy && n.cell() == cell).map(|n| n.figures.cpu_us_per_req())
    };
    for r in rows {
        let ratio = |base: &str| match (r.proxy.as_str(), cpu_of(base, &r.cell())) {
            ("sluice", Some(b)) => format!("{:.2}", r.figures.cpu_us_per_req() / b),
            _ => String::new(),
        };
        let opt = |v: Option<f64>| v.map_or(String::from("-"), |v| format!("{v:.2}"));
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {:.1} | {:.1} | {:.1} | {} | {:.0} | {:.2} | {:.2} | {} | {} | {} | {} | {} |",
            r.workers,
            r.mode,
            r.conns,
            r.ingresses,
            r.proxy,
            r.figures.cpu_us_per_req(),
            r.figures.user_us_per_req,
            r.figures.kernel_us_per_req,
            opt(r.figures.syscalls_per_req),
            r.figures.wrk.rps,
            r.figures.wrk.p50_ms,
            r.figures.wrk.p99_ms,
            opt(r.figures.half_load_ms.map(|h| h.0)),
            opt(r.figures.half_load_ms.map(|h| h.1)),
            r.figures.wrk.errors,
            ratio("nginx"),
            ratio("pingora"),
        );
    }
    out
}

/// A grouped bar chart: one group per cell, Sluice, bare Pingora and nginx side by side.
pub fn svg(rows: &[Row]) -> String {
    let mut cells: Vec<String> = rows.iter().map(Row::cell).collect();
    cells.dedup();
    let max = rows.iter().map(|r| r.figures.cpu_us_per_req()).fold(1.0f64, f64::max);
    let (bar, gap, height, left, top) = (18.0, 16.0, 300.0, 60.0, 30.0);
    let width = left + cells.len() as f64 * (3.0 * bar + gap) + 20.0;
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{}\" font-family=\"sans-serif\" font-size=\"10\">\n\
         <text x=\"{left}\" y=\"18\" font-size=\"13\">CPU-us per request (lower is better): Sluice (blue), bare Pingora (orange), nginx (grey)</text>\n",
        height + top + 110.0
    );
    let _ = writeln!(
        s,
        "<line x1=\"{left}\" y1=\"{}\" x2=\"{width}\" y2=\"{}\" stroke=\"black\"/>",
        top + height,
        top + height
    );
    for (i, cell) in cells.iter().enumerate() {
        let x0 = left + i as f64 * (3.0 * bar + gap);
        for (j, proxy) in ["sluice", "pingora", "nginx"].iter().enumerate() {
            if let Some(r) = rows.iter().find(|r| &r.cell() == cell && r.proxy == *proxy) {
                let h = r.figures.cpu_us_per_req() / max * height;
                let color = ["#3b6fd8", "#e08a2c", "#9a9a9a"][j];
                let x = x0 + j as f64 * bar;
                let _ = writeln!(
                    s,
                    "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"{}\" height=\"{h:.1}\" fill=\"{color}\"><title>{proxy} {cell}: {:.1}</title></rect>",
                    top + height - h,
                    bar - 2.0,
                    r.figures.cpu_us_per_req()
                );
                let _ = writeln!(
                    s,
                    "<text x=\"{x:.1}\" y=\"{:.1}\" font-size=\"8\">{:.0}</text>",
                    top + height - h - 2.0,
                    r.figures.cpu_us_per_req()
                );
            }
        }
        let _ = writeln!(
            s,
            "<text transform=\"translate({:.1},{:.1}) rotate(60)\">{cell}</text>",
            x0 + 4.0,
            top + height + 10.0
        );
    }
    s.push_str("</svg>\n");
    s
}
