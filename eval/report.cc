// Replay reports: results.json, results.csv, a hand-written SVG of Recall@20 per segment, a text table and the
// one-line JSON summary.
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "eval/report.h"
#include "util/atomic_file.h"

namespace gpt4rec::eval {
namespace {

nlohmann::json MetricsJson(const StrategySegment& s) {
  return {{"recall20", s.test.recall20},       {"ndcg20", s.test.ndcg20},
          {"ndcg20_degc", s.test.ndcg20_degc}, {"test_users", s.test.users},
          {"train_seconds", s.train_seconds},  {"eval_seconds", s.eval_seconds},
          {"epochs", s.epochs},                {"best_epoch", s.best_epoch},
          {"best_valid_recall20", s.best_valid_recall20}, {"mode", s.mode},
          {"reads_old_data", s.reads_old_data}, {"replayed_edges", s.replayed_edges},
          {"peak_rss_mib", s.peak_rss_mib}, {"train_cpu_seconds", s.train_cpu_seconds}};
}

nlohmann::json SummaryJson(const StrategySummary& s) {
  return {{"recall20_avg", s.recall20_avg},
          {"ndcg20_avg", s.ndcg20_avg},
          {"ndcg20_degc_avg", s.ndcg20_degc_avg},
          {"train_s_total", s.train_s_total},
          {"train_s_incremental_avg", s.train_s_incremental_avg},
          {"train_cpu_s_incremental_avg", s.train_cpu_s_incremental_avg},
          {"peak_rss_mib", s.peak_rss_mib},
          {"reads_old_data", s.reads_old_data}};
}

nlohmann::json PairedJson(const PairedComparison& c) {
  auto one = [](const PairedDelta& d) {
    return nlohmann::json{{"delta", d.delta}, {"standard_error", d.standard_error}, {"z", d.z()}, {"pairs", d.pairs}};
  };
  return {{"a", c.a}, {"b", c.b}, {"recall20", one(c.recall20)}, {"ndcg20", one(c.ndcg20)}};
}

nlohmann::json PairedArray(const ReplayResult& result) {
  nlohmann::json out = nlohmann::json::array();
  for (const PairedComparison& c : result.paired) out.push_back(PairedJson(c));
  return out;
}

std::string Fixed(double v, int digits = 4) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.*f", digits, v);
  return buf;
}

}  // namespace

absl::Status WriteResultsJson(const std::string& path, const ReportInfo& info, const SegmentedStream& stream,
                              const ReplayResult& result) {
  nlohmann::json j;
  j["dataset"] = info.dataset;
  j["config"] = nlohmann::json::parse(info.config_json, nullptr, /*allow_exceptions=*/false);
  if (j["config"].is_discarded()) j["config"] = info.config_json;
  j["preprocess"] = {{"events_in", stream.events_in},
                     {"events_after_range", stream.events_after_range},
                     {"events_after_dedup", stream.events_after_dedup},
                     {"events_after_kcore", stream.events_after_kcore},
                     {"kcore_rounds", stream.kcore_rounds},
                     {"users", stream.user_raw.size()},
                     {"items", stream.item_raw.size()}};
  nlohmann::json segs = nlohmann::json::array();
  for (size_t t = 0; t < stream.segments.size(); ++t) {
    const Segment& s = stream.segments[t];
    nlohmann::json js = {{"index", t},           {"label", s.label},         {"start_time", s.start_time},
                         {"end_time", s.end_time}, {"train", s.train.size()}, {"valid", s.valid.size()},
                         {"test", s.test.size()},  {"num_users", s.num_users}, {"num_items", s.num_items},
                         {"new_users", s.new_users}, {"new_items", s.new_items}};
    nlohmann::json per = nlohmann::json::object();
    for (size_t k = 0; k < result.strategies.size(); ++k) per[result.strategies[k]] = MetricsJson(result.per_strategy[k][t]);
    js["results"] = per;
    segs.push_back(js);
  }
  j["segments"] = segs;
  nlohmann::json sum = nlohmann::json::object();
  for (const StrategySummary& s : result.summary) sum[s.name] = SummaryJson(s);
  j["summary"] = sum;
  j["summary_note"] = "averages over incremental segments t >= 1";
  j["paired"] = PairedArray(result);
  j["paired_note"] =
      "a - b of the t >= 1 averages, standard error from per-user differences on the same test users (eval/paired.h)";
  return util::WriteFileAtomically(path, j.dump(2) + "\n");
}

absl::Status WriteResultsCsv(const std::string& path, const SegmentedStream& stream, const ReplayResult& result) {
  std::ostringstream out;
  out << "segment,label,strategy,recall20,ndcg20,ndcg20_degc,test_users,train_seconds,epochs,best_epoch,"
         "num_users,num_items,new_users,new_items,reads_old_data,replayed_edges,peak_rss_mib,train_cpu_seconds\n";
  for (size_t t = 0; t < stream.segments.size(); ++t) {
    const Segment& s = stream.segments[t];
    for (size_t k = 0; k < result.strategies.size(); ++k) {
      const StrategySegment& r = result.per_strategy[k][t];
      out << t << ',' << s.label << ',' << result.strategies[k] << ',' << Fixed(r.test.recall20, 6) << ','
          << Fixed(r.test.ndcg20, 6) << ',' << Fixed(r.test.ndcg20_degc, 6) << ',' << r.test.users << ','
          << Fixed(r.train_seconds, 3) << ',' << r.epochs << ',' << r.best_epoch << ',' << s.num_users << ','
          << s.num_items << ',' << s.new_users << ',' << s.new_items << ',' << (r.reads_old_data ? 1 : 0) << ','
          << r.replayed_edges << ',' << Fixed(r.peak_rss_mib, 1) << ',' << Fixed(r.train_cpu_seconds, 3) << '\n';
    }
  }
  return util::WriteFileAtomically(path, out.str());
}

absl::Status WriteRecallSvg(const std::string& path, const ReportInfo& info, const SegmentedStream& stream,
                            const ReplayResult& result) {
  static const char* const kColors[] = {"#7f7f7f", "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728",
                                        "#9467bd", "#8c564b", "#e377c2", "#bcbd22", "#17becf"};
  const double W = 1000, H = 480, left = 70, right = 240, top = 50, bottom = 60;  // right: room for the legend
  const double pw = W - left - right, ph = H - top - bottom;
  const size_t T = stream.segments.size();
  double ymax = 0;
  for (const auto& per : result.per_strategy) {
    for (const auto& s : per) ymax = std::max(ymax, s.test.recall20);
  }
  ymax = ymax <= 0 ? 0.1 : ymax * 1.1;
  auto X = [&](size_t t) { return left + (T <= 1 ? pw / 2 : pw * static_cast<double>(t) / static_cast<double>(T - 1)); };
  auto Y = [&](double v) { return top + ph * (1.0 - v / ymax); };
  std::ostringstream o;
  o << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << W << "\" height=\"" << H
    << "\" font-family=\"sans-serif\" font-size=\"12\">\n";
  o << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  o << "<text x=\"" << left << "\" y=\"28\" font-size=\"16\">Recall@20 per segment — " << info.dataset
    << " (test split of each segment)</text>\n";
  for (int g = 0; g <= 5; ++g) {  // horizontal grid with labels
    const double v = ymax * g / 5.0;
    o << "<line x1=\"" << left << "\" x2=\"" << left + pw << "\" y1=\"" << Y(v) << "\" y2=\"" << Y(v)
      << "\" stroke=\"#ddd\"/>\n";
    o << "<text x=\"" << left - 8 << "\" y=\"" << Y(v) + 4 << "\" text-anchor=\"end\">" << Fixed(v, 3) << "</text>\n";
  }
  const size_t label_step = std::max<size_t>(1, T / 12);
  for (size_t t = 0; t < T; t += label_step) {
    o << "<text x=\"" << X(t) << "\" y=\"" << top + ph + 18 << "\" text-anchor=\"middle\">" << t << "</text>\n";
  }
  o << "<text x=\"" << left + pw / 2 << "\" y=\"" << H - 15 << "\" text-anchor=\"middle\">segment (0 = base; "
    << (T > 0 ? stream.segments.front().label + " … " + stream.segments.back().label : "") << ")</text>\n";
  o << "<line x1=\"" << left << "\" x2=\"" << left << "\" y1=\"" << top << "\" y2=\"" << top + ph
    << "\" stroke=\"black\"/>\n<line x1=\"" << left << "\" x2=\"" << left + pw << "\" y1=\"" << top + ph
    << "\" y2=\"" << top + ph << "\" stroke=\"black\"/>\n";
  for (size_t k = 0; k < result.strategies.size(); ++k) {
    const char* color = kColors[k % (sizeof(kColors) / sizeof(kColors[0]))];
    o << "<polyline fill=\"none\" stroke=\"" << color << "\" stroke-width=\"2\" points=\"";
    for (size_t t = 0; t < T; ++t) o << X(t) << ',' << Y(result.per_strategy[k][t].test.recall20) << ' ';
    o << "\"/>\n";
    for (size_t t = 0; t < T; ++t) {
      o << "<circle cx=\"" << X(t) << "\" cy=\"" << Y(result.per_strategy[k][t].test.recall20) << "\" r=\"2.5\" fill=\""
        << color << "\"/>\n";
    }
    const double ly = top + 10 + 20.0 * static_cast<double>(k);
    const double avg = k < result.summary.size() ? result.summary[k].recall20_avg : 0;
    o << "<line x1=\"" << left + pw + 15 << "\" x2=\"" << left + pw + 40 << "\" y1=\"" << ly << "\" y2=\"" << ly
      << "\" stroke=\"" << color << "\" stroke-width=\"3\"/>\n";
    o << "<text x=\"" << left + pw + 46 << "\" y=\"" << ly + 4 << "\">" << result.strategies[k] << " (avg t≥1 "
      << Fixed(avg, 4) << ")</text>\n";
  }
  o << "</svg>\n";
  return util::WriteFileAtomically(path, o.str());
}

std::string ResultsTable(const SegmentedStream& stream, const ReplayResult& result) {
  std::ostringstream o;
  char buf[128];
  std::snprintf(buf, sizeof(buf), "%-4s %-14s %7s %7s %6s %6s %7s", "seg", "label", "users", "items", "new_u",
                "new_i", "test");
  o << buf;
  for (const std::string& s : result.strategies) {
    std::snprintf(buf, sizeof(buf), " | %-8.8s R@20   N@20   N@20d ", s.c_str());
    o << buf;
  }
  o << '\n';
  for (size_t t = 0; t < stream.segments.size(); ++t) {
    const Segment& s = stream.segments[t];
    std::snprintf(buf, sizeof(buf), "%-4zu %-14.14s %7d %7d %6d %6d %7zu", t, s.label.c_str(), s.num_users,
                  s.num_items, s.new_users, s.new_items, s.test.size());
    o << buf;
    for (size_t k = 0; k < result.strategies.size(); ++k) {
      const RankingMetrics& m = result.per_strategy[k][t].test;
      std::snprintf(buf, sizeof(buf), " | %8s %.4f %.4f %.4f", "", m.recall20, m.ndcg20, m.ndcg20_degc);
      o << buf;
    }
    o << '\n';
  }
  std::snprintf(buf, sizeof(buf), "%-4s %-14s %7s %7s %6s %6s %7s", "avg", "t>=1", "", "", "", "", "");
  o << buf;
  for (const StrategySummary& s : result.summary) {
    std::snprintf(buf, sizeof(buf), " | %8s %.4f %.4f %.4f", "", s.recall20_avg, s.ndcg20_avg, s.ndcg20_degc_avg);
    o << buf;
  }
  o << '\n';
  std::snprintf(buf, sizeof(buf), "%-4s %-14s", "sum", "train seconds");
  o << buf;
  for (const StrategySummary& s : result.summary) {
    std::snprintf(buf, sizeof(buf), " | %s: %.1fs", s.name.c_str(), s.train_s_total);
    o << buf;
  }
  o << '\n';
  // Efficiency: what a deployment pays per incremental segment, and whether it must keep old data around.
  std::snprintf(buf, sizeof(buf), "%-4s %-14s", "eff", "t>=1");
  o << buf;
  for (const StrategySummary& s : result.summary) {
    std::snprintf(buf, sizeof(buf), " | %s: %.1fs/seg (CPU %.1fs), peak %.0f MiB, %s", s.name.c_str(),
                  s.train_s_incremental_avg, s.train_cpu_s_incremental_avg, s.peak_rss_mib,
                  s.reads_old_data ? "reads old data" : "new data only");
    o << buf;
  }
  o << '\n';
  // Paired differences: a lead within ~2 standard errors is not one.
  for (const PairedComparison& c : result.paired) {
    std::snprintf(buf, sizeof(buf),
                  "pair %s - %s: R@20 %+.4f +- %.4f (z %+.1f), N@20 %+.4f +- %.4f (z %+.1f), %lld user-segments\n",
                  c.a.c_str(), c.b.c_str(), c.recall20.delta, c.recall20.standard_error, c.recall20.z(),
                  c.ndcg20.delta, c.ndcg20.standard_error, c.ndcg20.z(), static_cast<long long>(c.recall20.pairs));
    o << buf;
  }
  return o.str();
}

absl::Status WritePerUserCsv(const std::string& path, const SegmentedStream& stream, const ReplayResult& result) {
  std::ostringstream out;
  out << "segment,strategy,user,recall20,ndcg20\n";
  for (size_t t = 0; t < stream.segments.size(); ++t) {
    for (size_t k = 0; k < result.strategies.size(); ++k) {
      const RankingMetrics& m = result.per_strategy[k][t].test;
      for (size_t u = 0; u < m.user_ids.size(); ++u)
        out << t << ',' << result.strategies[k] << ',' << m.user_ids[u] << ',' << m.user_recall20[u] << ','
            << m.user_ndcg20[u] << '\n';
    }
  }
  return util::WriteFileAtomically(path, out.str());
}

std::string SummaryJsonLine(const ReportInfo& info, const SegmentedStream& stream, const ReplayResult& result) {
  nlohmann::json j;
  j["dataset"] = info.dataset;
  j["segments"] = stream.segments.size();
  nlohmann::json sum = nlohmann::json::object();
  for (const StrategySummary& s : result.summary) sum[s.name] = SummaryJson(s);
  j["strategies"] = sum;
  if (!result.paired.empty()) j["paired"] = PairedArray(result);
  return j.dump();
}

}  // namespace gpt4rec::eval
