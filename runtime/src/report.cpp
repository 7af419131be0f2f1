#include "report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "io/file.h"

namespace rnnc_rt {

namespace {

std::string fmt(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

std::string opt(const std::optional<double> &v) { return v ? fmt(*v) : ""; }

std::optional<double> parse_opt(const std::string &s) {
  if (s.empty()) return std::nullopt;
  return std::strtod(s.c_str(), nullptr);
}

void write_text_atomically(const std::string &path, const std::string &text) {
  write_file_atomically(path, {ByteSpan{text.data(), text.size()}});
}

std::string escape_xml(const std::string &s) {
  std::string o;
  for (char c : s) {
    if (c == '<')
      o += "&lt;";
    else if (c == '>')
      o += "&gt;";
    else if (c == '&')
      o += "&amp;";
    else
      o += c;
  }
  return o;
}

// A "nice" tick step (1, 2 or 5 times a power of ten) for about `count`
// intervals over `range`.
double nice_step(double range, int count) {
  const double raw = range / count, mag = std::pow(10.0, std::floor(std::log10(raw)));
  const double f = raw / mag;
  return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * mag;
}

// One panel: curves of (epoch, value) with axes, ticks and a legend.
void panel(std::ostringstream &s, double x0, double y0, double w, double h, const std::string &title,
           const std::vector<std::pair<std::string, std::vector<std::pair<double, double>>>> &curves, bool unit_range) {
  double xmax = 1, ymin = 0, ymax = unit_range ? 1 : 0;
  bool any = false;
  for (const auto &c : curves)
    for (const auto &[x, y] : c.second) {
      xmax = std::max(xmax, x);
      if (!unit_range) {
        ymin = any ? std::min(ymin, y) : y;
        ymax = any ? std::max(ymax, y) : y;
      }
      any = true;
    }
  double ystep = 0.25;
  if (!unit_range) {
    ymin = std::min(0.0, ymin);
    if (ymax <= ymin) ymax = ymin + 1;
    ystep = nice_step(ymax - ymin, 4);
    ymin = std::floor(ymin / ystep) * ystep;
    ymax = std::ceil(ymax / ystep) * ystep;
  }
  const double xmin = 1, xspan = std::max(1.0, xmax - xmin), xstep = std::max(1.0, nice_step(xspan, 5));
  const double pl = x0 + 60, pr = x0 + w - 15, pt = y0 + 40, pb = y0 + h - 35;
  auto X = [&](double x) { return pl + (x - xmin) / xspan * (pr - pl); };
  auto Y = [&](double y) { return pb - (y - ymin) / (ymax - ymin) * (pb - pt); };
  s << "<text x='" << (pl + pr) / 2 << "' y='" << y0 + 16 << "' text-anchor='middle' font-size='14'>" << title
    << "</text>\n";
  s << "<rect x='" << pl << "' y='" << pt << "' width='" << pr - pl << "' height='" << pb - pt
    << "' fill='none' stroke='#888'/>\n";
  for (double yv = ymin; yv <= ymax + ystep / 2; yv += ystep) {
    s << "<line x1='" << pl << "' x2='" << pr << "' y1='" << Y(yv) << "' y2='" << Y(yv) << "' stroke='#eee'/>\n";
    s << "<text x='" << pl - 5 << "' y='" << Y(yv) + 4 << "' text-anchor='end' font-size='10'>" << fmt(yv)
      << "</text>\n";
  }
  for (double xv = xmin; xv <= xmax + 1e-9; xv += xstep)
    s << "<text x='" << X(xv) << "' y='" << pb + 14 << "' text-anchor='middle' font-size='10'>" << fmt(xv)
      << "</text>\n";
  s << "<text x='" << (pl + pr) / 2 << "' y='" << pb + 28 << "' text-anchor='middle' font-size='11'>epoch</text>\n";
  const char *colors[] = {"#1f77b4", "#d62728"};
  int ci = 0;
  double lx = pl;
  for (const auto &[name, pts] : curves) {
    const char *color = colors[ci++ % 2];
    if (pts.empty()) continue;
    s << "<polyline fill='none' stroke='" << color << "' stroke-width='2' points='";
    for (const auto &[x, y] : pts) s << X(x) << "," << Y(y) << " ";
    s << "'/>\n";
    for (const auto &[x, y] : pts)
      s << "<circle cx='" << X(x) << "' cy='" << Y(y) << "' r='2' fill='" << color << "'/>\n";
    // Legend above the plot area, left to right.
    s << "<line x1='" << lx << "' x2='" << lx + 20 << "' y1='" << pt - 10 << "' y2='" << pt - 10 << "' stroke='"
      << color << "' stroke-width='2'/><text x='" << lx + 24 << "' y='" << pt - 6 << "' font-size='11'>" << name
      << "</text>\n";
    lx += 100;
  }
}

}  // namespace

std::vector<EpochMetrics> read_metrics_csv(const std::string &path, int64_t up_to_epoch) {
  std::vector<EpochMetrics> rows;
  std::ifstream in(path);
  std::string line;
  if (!std::getline(in, line)) return rows;  // absent or empty
  while (std::getline(in, line)) {
    std::vector<std::string> f;
    std::stringstream ss(line);
    std::string cell;
    while (std::getline(ss, cell, ',')) f.push_back(cell);
    while (f.size() < 6) f.push_back("");
    EpochMetrics m;
    m.epoch = std::atoll(f[0].c_str());
    if (m.epoch < 1 || m.epoch > up_to_epoch) continue;
    m.train_loss = std::strtod(f[1].c_str(), nullptr);
    m.train_acc = parse_opt(f[2]);
    m.val_loss = parse_opt(f[3]);
    m.val_acc = parse_opt(f[4]);
    m.seconds = std::strtod(f[5].c_str(), nullptr);
    rows.push_back(m);
  }
  return rows;
}

void write_metrics_csv(const std::string &path, const std::vector<EpochMetrics> &rows) {
  std::ostringstream s;
  s << "epoch,train_loss,train_acc,val_loss,val_acc,seconds\n";
  for (const EpochMetrics &m : rows)
    s << m.epoch << "," << fmt(m.train_loss) << "," << opt(m.train_acc) << "," << opt(m.val_loss) << ","
      << opt(m.val_acc) << "," << fmt(m.seconds) << "\n";
  write_text_atomically(path, s.str());
}

void write_curves_svg(const std::string &path, const std::string &title, const std::vector<EpochMetrics> &rows) {
  using Curve = std::vector<std::pair<double, double>>;
  Curve tl, vl, ta, va;
  for (const EpochMetrics &m : rows) {
    tl.push_back({static_cast<double>(m.epoch), m.train_loss});
    if (m.val_loss) vl.push_back({static_cast<double>(m.epoch), *m.val_loss});
    if (m.train_acc) ta.push_back({static_cast<double>(m.epoch), *m.train_acc});
    if (m.val_acc) va.push_back({static_cast<double>(m.epoch), *m.val_acc});
  }
  const bool acc = !ta.empty();
  const double w = acc ? 900 : 450, h = 330;
  std::ostringstream s;
  s << "<svg xmlns='http://www.w3.org/2000/svg' width='" << w << "' height='" << h << "' font-family='sans-serif'>\n"
    << "<rect width='100%' height='100%' fill='white'/>\n"
    << "<text x='" << w / 2 << "' y='16' text-anchor='middle' font-size='15' font-weight='bold'>" << escape_xml(title)
    << "</text>\n";
  panel(s, 0, 20, 450, h - 20, "loss", {{"train", tl}, {"validation", vl}}, false);
  if (acc) panel(s, 450, 20, 450, h - 20, "accuracy", {{"train", ta}, {"validation", va}}, true);
  s << "</svg>\n";
  write_text_atomically(path, s.str());
}

void write_log_curves_svg(const std::string &path, const std::string &title, const std::string &x_label,
                          const std::vector<LogCurve> &curves) {
  double lo = 0, hi = 0;
  size_t xmax = 1;
  bool any = false;
  for (const LogCurve &c : curves) {
    xmax = std::max(xmax, c.values.size() > 0 ? c.values.size() - 1 : 0);
    for (double v : c.values)
      if (v > 0 && std::isfinite(v)) {
        const double l = std::log10(v);
        lo = any ? std::min(lo, l) : l;
        hi = any ? std::max(hi, l) : l;
        any = true;
      }
  }
  lo = std::floor(lo);
  hi = std::max(lo + 1, std::ceil(hi));
  const int decades = static_cast<int>(hi - lo), every = std::max(1, decades / 8);
  const double legend_rows = static_cast<double>((curves.size() + 2) / 3);
  const double w = 720, pl = 70, pr = w - 20, pt = 34 + 18 * legend_rows, pb = pt + 300, H = pb + 45;
  auto X = [&](double x) { return pl + x / static_cast<double>(xmax) * (pr - pl); };
  auto Y = [&](double l) { return pb - (l - lo) / (hi - lo) * (pb - pt); };
  std::ostringstream s;
  s << "<svg xmlns='http://www.w3.org/2000/svg' width='" << w << "' height='" << H << "' font-family='sans-serif'>\n"
    << "<rect width='100%' height='100%' fill='white'/>\n"
    << "<text x='" << w / 2 << "' y='18' text-anchor='middle' font-size='15' font-weight='bold'>" << escape_xml(title)
    << "</text>\n";
  const double top = Y(hi), bottom = Y(lo);
  s << "<rect x='" << pl << "' y='" << top << "' width='" << pr - pl << "' height='" << bottom - top
    << "' fill='none' stroke='#888'/>\n";
  for (int k = 0; k <= decades; k += every) {
    const double y = Y(lo + k);
    s << "<line x1='" << pl << "' x2='" << pr << "' y1='" << y << "' y2='" << y << "' stroke='#eee'/>\n"
      << "<text x='" << pl - 5 << "' y='" << y + 4 << "' text-anchor='end' font-size='10'>1e" << lo + k << "</text>\n";
  }
  const double xstep = std::max(1.0, nice_step(static_cast<double>(xmax), 8));
  for (double x = 0; x <= static_cast<double>(xmax) + 1e-9; x += xstep)
    s << "<text x='" << X(x) << "' y='" << bottom + 14 << "' text-anchor='middle' font-size='10'>" << fmt(x)
      << "</text>\n";
  s << "<text x='" << (pl + pr) / 2 << "' y='" << bottom + 30 << "' text-anchor='middle' font-size='11'>"
    << escape_xml(x_label) << "</text>\n";
  const char *colors[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"};
  for (size_t ci = 0; ci < curves.size(); ++ci) {
    const char *color = colors[ci % 6];
    s << "<polyline fill='none' stroke='" << color << "' stroke-width='2' points='";
    for (size_t x = 0; x < curves[ci].values.size(); ++x) {
      const double v = curves[ci].values[x];
      if (v > 0 && std::isfinite(v)) s << X(static_cast<double>(x)) << "," << Y(std::log10(v)) << " ";
    }
    s << "'/>\n";
    const double lx = pl + 220 * static_cast<double>(ci % 3), ly = 40 + 18 * static_cast<double>(ci / 3);
    s << "<line x1='" << lx << "' x2='" << lx + 20 << "' y1='" << ly - 4 << "' y2='" << ly - 4 << "' stroke='" << color
      << "' stroke-width='2'/><text x='" << lx + 24 << "' y='" << ly << "' font-size='11'>"
      << escape_xml(curves[ci].name) << "</text>\n";
  }
  s << "</svg>\n";
  write_text_atomically(path, s.str());
}

}  // namespace rnnc_rt
