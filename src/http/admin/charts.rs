//! Charts drawn on the server as SVG (plotters), shown inline; the pages carry the same numbers
//! in a table beside them.

use plotters::prelude::*;

/// Series colours: blue, orange, green, red (distinguishable, with contrast on white).
const COLOURS: [RGBColor; 4] = [
    RGBColor(26, 86, 219),
    RGBColor(217, 119, 6),
    RGBColor(22, 163, 74),
    RGBColor(180, 35, 24),
];

/// A line chart of several series over the same labelled points (hours, days). `title` names
/// the chart for screen readers.
pub fn lines(title: &str, labels: &[String], series: &[(&str, Vec<i64>)]) -> String {
    let mut svg = String::new();
    let drawn = draw(&mut svg, labels, series);
    if let Err(e) = drawn {
        tracing::warn!(error = %e, "chart could not be drawn");
        return String::new();
    }
    // Name the picture for assistive technology.
    svg.replacen(
        "<svg ",
        &format!("<svg role=\"img\" aria-label=\"{}\" ", super::escape(title)),
        1,
    )
}

fn draw(
    svg: &mut String,
    labels: &[String],
    series: &[(&str, Vec<i64>)],
) -> Result<(), Box<dyn std::error::Error>> {
    let root = SVGBackend::with_string(svg, (760, 300)).into_drawing_area();
    root.fill(&WHITE)?;
    let n = labels.len().max(2);
    let top = series
        .iter()
        .flat_map(|(_, v)| v.iter().copied())
        .max()
        .unwrap_or(0)
        .max(1);
    let mut chart = ChartBuilder::on(&root)
        .margin(12)
        .x_label_area_size(32)
        .y_label_area_size(48)
        .build_cartesian_2d(0..n - 1, 0..top + top / 10 + 1)?;
    chart
        .configure_mesh()
        .x_labels(8)
        .y_labels(6)
        .x_label_formatter(&|i| labels.get(*i).cloned().unwrap_or_default())
        .light_line_style(RGBColor(235, 238, 242))
        .draw()?;
    for (i, (name, values)) in series.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        chart
            .draw_series(LineSeries::new(
                values.iter().enumerate().map(|(x, y)| (x, *y)),
                colour.stroke_width(2),
            ))?
            .label(*name)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 16, y)], colour.stroke_width(2))
            });
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.9))
        .border_style(RGBColor(208, 215, 222))
        .position(SeriesLabelPosition::UpperRight)
        .draw()?;
    root.present()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn draws_an_svg_with_its_series() {
        let labels: Vec<String> = (0..5).map(|h| format!("{h:02}:00")).collect();
        let svg = super::lines(
            "Opens & clicks",
            &labels,
            &[
                ("opens", vec![0, 5, 9, 3, 1]),
                ("clicks", vec![0, 1, 2, 1, 0]),
            ],
        );
        assert!(
            svg.starts_with("<svg role=\"img\" aria-label=\"Opens &amp; clicks\""),
            "{}",
            &svg[..80]
        );
        assert!(svg.contains("opens") && svg.contains("clicks") && svg.contains("<polyline"));
        assert!(!svg.contains("style="), "inline styles would break the CSP");
    }
}
