//! The picture analysts know from the original RelBot project: a host's flow start times
//! wrapped by a period — x: the position within the period (0..P), y: the cycle number, one
//! colour per peer. A peer contacted with that period draws a vertical stripe; random traffic
//! scatters over the whole width.
//!
//! Drawn with `plotters`, without system fonts: SVG pictures carry their text as SVG `<text>`
//! (laid out with plotters' built-in estimate, rendered by the viewer), PNG pictures carry no
//! text at all (plotters cannot draw text into bitmaps without a font library).

use std::net::IpAddr;
use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

/// Colours of the peers, in order: saturated, so that they stand out from the grey grid.
pub const PEER_COLOURS: [(u8, u8, u8); 10] = [
    (230, 25, 75),
    (0, 130, 200),
    (60, 180, 75),
    (245, 130, 48),
    (145, 30, 180),
    (240, 50, 230),
    (0, 128, 128),
    (170, 110, 40),
    (128, 0, 0),
    (0, 0, 128),
];

/// At most this many peers are drawn (one colour each).
pub const MAX_PEERS: usize = PEER_COLOURS.len();

/// What to draw.
#[derive(Debug, Clone)]
pub struct Picture {
    /// The host.
    pub host: IpAddr,
    /// The period the times are wrapped by, ms.
    pub period_ms: u64,
    /// Time of cycle 0, position 0 (`relbot explain` puts it half a period before the
    /// earliest drawn flow, so that a beacon's stripe stands in the middle).
    pub origin_ms: i64,
    /// Each drawn peer with its flow start times.
    pub peers: Vec<(IpAddr, Vec<i64>)>,
}

/// Image file formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageFormat {
    /// SVG, with text.
    Svg,
    /// PNG, without text.
    Png,
}

/// Rendering failed (the message names the file).
#[derive(Debug, thiserror::Error)]
#[error("{path}: cannot draw the picture: {message}")]
pub struct PictureError {
    /// The image file.
    pub path: String,
    /// What went wrong.
    pub message: String,
}

impl Picture {
    /// (x, y) of one start time: position within the period in seconds, and cycle number.
    pub fn wrap(&self, t: i64) -> (f64, f64) {
        let period = self.period_ms.max(1) as i64;
        let d = t - self.origin_ms;
        let cycle = d.div_euclid(period);
        let at = d.rem_euclid(period);
        (at as f64 / 1000.0, cycle as f64)
    }

    /// The largest cycle number drawn.
    fn cycles(&self) -> f64 {
        self.peers
            .iter()
            .flat_map(|(_, times)| times.iter())
            .map(|&t| self.wrap(t).1)
            .fold(0.0, f64::max)
    }

    /// Renders to `path` as `format`, `size` pixels (SVG: user units).
    pub fn render(
        &self,
        path: &Path,
        format: ImageFormat,
        size: (u32, u32),
    ) -> Result<(), PictureError> {
        let fail = |message: String| PictureError {
            path: path.display().to_string(),
            message,
        };
        match format {
            ImageFormat::Svg => {
                let root = SVGBackend::new(path, size).into_drawing_area();
                self.draw(&root, true).map_err(|e| fail(e.to_string()))?;
                root.present().map_err(|e| fail(e.to_string()))
            }
            ImageFormat::Png => {
                let root = BitMapBackend::new(path, size).into_drawing_area();
                self.draw(&root, false).map_err(|e| fail(e.to_string()))?;
                root.present().map_err(|e| fail(e.to_string()))
            }
        }
    }

    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
        text: bool,
    ) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
        root.fill(&WHITE)?;
        let period_s = self.period_ms as f64 / 1000.0;
        let top = self.cycles() + 1.0;
        let mut builder = ChartBuilder::on(root);
        builder.margin(16);
        if text {
            builder
                .caption(
                    format!(
                        "{}: flow starts wrapped by {}",
                        self.host,
                        crate::output::human_period(self.period_ms)
                    ),
                    ("sans-serif", 18),
                )
                .x_label_area_size(40)
                .y_label_area_size(50);
        }
        let mut chart = builder.build_cartesian_2d(0.0..period_s, -0.5..top)?;
        if text {
            chart
                .configure_mesh()
                .x_desc("position within the period")
                .y_desc("cycle")
                .x_label_formatter(&|s| crate::output::human_period((s * 1000.0).round() as u64))
                .y_label_formatter(&|c| format!("{c:.0}"))
                .light_line_style(RGBColor(235, 235, 235))
                .bold_line_style(RGBColor(200, 200, 200))
                .draw()?;
        } else {
            // The frame and a grid at every tenth of the period and of the cycles.
            let grid = RGBColor(210, 210, 210);
            for i in 0..=10 {
                let x = period_s * f64::from(i) / 10.0;
                chart.draw_series(std::iter::once(PathElement::new(
                    vec![(x, -0.5), (x, top)],
                    grid,
                )))?;
                let y = -0.5 + (top + 0.5) * f64::from(i) / 10.0;
                chart.draw_series(std::iter::once(PathElement::new(
                    vec![(0.0, y), (period_s, y)],
                    grid,
                )))?;
            }
        }
        for (i, (peer, times)) in self.peers.iter().enumerate().take(MAX_PEERS) {
            let (r, g, b) = PEER_COLOURS[i % PEER_COLOURS.len()];
            let colour = RGBColor(r, g, b);
            let series = chart.draw_series(
                times
                    .iter()
                    .map(|&t| Circle::new(self.wrap(t), 3, colour.filled())),
            )?;
            if text {
                series
                    .label(peer.to_string())
                    .legend(move |(x, y)| Circle::new((x, y), 4, colour.filled()));
            }
        }
        if text && !self.peers.is_empty() {
            chart
                .configure_series_labels()
                .background_style(WHITE.mix(0.8))
                .border_style(BLACK)
                .draw()?;
        }
        Ok(())
    }
}
