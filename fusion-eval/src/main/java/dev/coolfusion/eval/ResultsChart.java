package dev.coolfusion.eval;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.jfree.chart.ChartFactory;
import org.jfree.chart.ChartUtils;
import org.jfree.chart.JFreeChart;
import org.jfree.chart.plot.PlotOrientation;
import org.jfree.data.category.DefaultCategoryDataset;

/** A bar chart of accuracy per method, drawn headless with JFreeChart. */
public final class ResultsChart {
    private ResultsChart() {}

    public static void write(EvalReport report, String title, Path file) throws IOException {
        System.setProperty("java.awt.headless", "true");
        DefaultCategoryDataset data = new DefaultCategoryDataset();
        for (EvalReport.Score s : report.scores()) {
            data.addValue(100 * s.accuracy(), "accuracy", s.method());
        }
        JFreeChart chart = ChartFactory.createBarChart(title, "method", "accuracy (%)", data, PlotOrientation.VERTICAL,
                false, false, false);
        Path parent = file.toAbsolutePath().getParent();
        if (parent != null) {
            Files.createDirectories(parent);
        }
        ChartUtils.saveChartAsPNG(file.toFile(), chart, 960, 540);
    }
}
