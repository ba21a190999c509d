// Every loader on small files written in its dataset's exact raw format, including malformed lines.
#include <catch2/catch.hpp>

#include "eval/calendar.h"
#include "eval/loaders.h"
#include "tests/common/temp_dir.h"
#include "tests/eval/test_files.h"

namespace ev = gpt4rec::eval;
using gpt4rec::eval::testing::WriteFile;
using gpt4rec::testing::TempDir;

namespace {

int64_t Utc(int y, unsigned m, unsigned d, int hh = 0, int mm = 0, int ss = 0) {
  return ev::DaysFromCivil(y, m, d) * 86400 + hh * 3600 + mm * 60 + ss;
}

ev::LoadOptions Options(ev::Format f, const std::string& path, bool skip = false) {
  ev::LoadOptions o;
  o.format = f;
  o.inputs = {path};
  o.skip_bad_lines = skip;
  return o;
}

}  // namespace

TEST_CASE("taobao2014 CSV: header, fields, hour time, behaviour filter, bad lines") {
  TempDir dir;
  const std::string good =
      "user_id,item_id,behavior_type,user_geohash,item_category,time\n"
      "10001082,285259775,1,97lk14c,4076,2014-12-08 18\n"
      "10001082,4368907,4,,5503,2014-12-12 12\n"
      "100029775,285259775,2,,4076,2014-11-18 00\n";
  auto raw = ev::LoadStream(Options(ev::Format::kTaobao2014, WriteFile(dir / "t.csv", good)));
  REQUIRE(raw.ok());
  REQUIRE(raw->events.size() == 3);
  CHECK(raw->user_names == std::vector<std::string>{"10001082", "100029775"});
  CHECK(raw->item_names == std::vector<std::string>{"285259775", "4368907"});
  CHECK(raw->events[0].time == Utc(2014, 12, 8, 18));
  CHECK(raw->events[2].user == 1);
  CHECK(raw->events[2].item == 0);  // interned in order of first appearance

  auto opts = Options(ev::Format::kTaobao2014, dir / "t.csv");
  opts.behaviors = {4};
  auto only_buys = ev::LoadStream(opts);
  REQUIRE(only_buys.ok());
  CHECK(only_buys->events.size() == 1);
  CHECK(only_buys->filtered == 2);

  const std::string bad = good + "10001082,1,1,,4076\n" + "10001082,2,9,,4076,2014-12-08 18\n" +
                          "10001082,3,1,,4076,2014-12-08 25\n" + "10001082,4,1,,4076,2014-12-09 01\n";
  const std::string path = WriteFile(dir / "bad.csv", bad);
  auto failed = ev::LoadStream(Options(ev::Format::kTaobao2014, path));
  REQUIRE_FALSE(failed.ok());
  CHECK(failed.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(std::string(failed.status().message()).find(path + ":5:") != std::string::npos);
  CHECK(std::string(failed.status().message()).find("6 comma-separated fields") != std::string::npos);

  auto skipped = ev::LoadStream(Options(ev::Format::kTaobao2014, path, /*skip=*/true));
  REQUIRE(skipped.ok());
  CHECK(skipped->bad_lines == 3);
  CHECK(skipped->events.size() == 4);
  REQUIRE(skipped->bad_examples.size() == 3);
  CHECK(skipped->bad_examples[1].find(path + ":6: behavior_type") == 0);
  CHECK(skipped->bad_examples[2].find(path + ":7:") == 0);
}

TEST_CASE("taobao2015 CSV: the item is sel_ID, time YYYYMMDD") {
  TempDir dir;
  const std::string text =
      "use_ID,sel_ID,ite_ID,cat_ID,act_ID,time\n"
      "7,77,9001,5,0,20150702\n"
      "7,78,9002,5,2,20150731\n"
      "8,77,9003,5,0,2015073\n";
  const std::string path = WriteFile(dir / "ijcai2016_taobao.csv", text);
  auto failed = ev::LoadStream(Options(ev::Format::kTaobao2015, path));
  REQUIRE_FALSE(failed.ok());
  CHECK(std::string(failed.status().message()).find(path + ":4:") == 0);
  auto raw = ev::LoadStream(Options(ev::Format::kTaobao2015, path, true));
  REQUIRE(raw.ok());
  REQUIRE(raw->events.size() == 2);
  CHECK(raw->item_names == std::vector<std::string>{"77", "78"});
  CHECK(raw->events[0].time == Utc(2015, 7, 2));
  CHECK(raw->events[1].time == Utc(2015, 7, 31));
  CHECK(raw->bad_lines == 1);
}

TEST_CASE("netflix: combined_data and a directory of mv_ files, bad lines named") {
  TempDir dir;
  const std::string combined =
      "1:\n1488844,3,2005-09-06\n822109,5,2005-05-13\n"
      "2:\n2059652,4,2005-09-05\n1488844,1,2000-01-01\n";
  auto raw = ev::LoadStream(Options(ev::Format::kNetflix, WriteFile(dir / "combined_data_1.txt", combined)));
  REQUIRE(raw.ok());
  REQUIRE(raw->events.size() == 4);
  CHECK(raw->item_names == std::vector<std::string>{"1", "2"});
  CHECK(raw->events[3].user == 0);  // customer 1488844 again
  CHECK(raw->events[3].item == 1);
  CHECK(raw->events[3].time == Utc(2000, 1, 1));

  std::filesystem::create_directory(dir / "training_set");
  WriteFile(dir / "training_set/mv_0000001.txt", "1:\n1488844,3,2005-09-06\n");
  WriteFile(dir / "training_set/mv_0000002.txt", "2:\n822109,5,2005-05-13\n30878,4,2005-12-26\n");
  WriteFile(dir / "training_set/README", "not a ratings file\n");
  auto from_dir = ev::LoadStream(Options(ev::Format::kNetflix, dir / "training_set"));
  REQUIRE(from_dir.ok());
  CHECK(from_dir->events.size() == 3);
  CHECK(from_dir->item_names == std::vector<std::string>{"1", "2"});

  const std::string orphan = WriteFile(dir / "mv_bad.txt", "1488844,3,2005-09-06\n");
  auto failed = ev::LoadStream(Options(ev::Format::kNetflix, orphan));
  REQUIRE_FALSE(failed.ok());
  CHECK(std::string(failed.status().message()) == orphan + ":1: rating line before any 'MovieID:' line");

  const std::string bad = WriteFile(dir / "combined_bad.txt", "3:\n1,6,2005-01-01\n2,3,2005-13-01\n3,3,2005-01-02\n");
  auto bad_rating = ev::LoadStream(Options(ev::Format::kNetflix, bad));
  REQUIRE_FALSE(bad_rating.ok());
  CHECK(std::string(bad_rating.status().message()).find(bad + ":2: Rating") == 0);
  auto skipped = ev::LoadStream(Options(ev::Format::kNetflix, bad, true));
  REQUIRE(skipped.ok());
  CHECK(skipped->bad_lines == 2);
  CHECK(skipped->events.size() == 1);

  auto opts = Options(ev::Format::kNetflix, dir / "combined_data_1.txt");
  opts.min_rating = 4;
  auto liked = ev::LoadStream(opts);
  REQUIRE(liked.ok());
  CHECK(liked->events.size() == 2);
}

TEST_CASE("foursquare: whitespace fields, UTC time with weekday/month names, tz offset") {
  TempDir dir;
  const std::string text =
      "50756\t4f5e3a72e4b053fd6a4313f6\tTue Apr 03 18:00:06 +0000 2012\t240\n"
      "190571\t4b4b87b5f964a5204a9f26e3\tSat Dec 31 23:59:59 +0000 2013\t-300\n"
      "50756\t4b4b87b5f964a5204a9f26e3\tTue Apr 03 18:00:06 2012\t240\n"
      "50756\t4b4b87b5f964a5204a9f26e3\tTue Foo 03 18:00:06 +0000 2012\t240\n";
  const std::string path = WriteFile(dir / "dataset_WWW_Checkins_anonymized.txt", text);
  auto failed = ev::LoadStream(Options(ev::Format::kFoursquare, path));
  REQUIRE_FALSE(failed.ok());
  CHECK(std::string(failed.status().message()).find(path + ":3: expected user, venue") == 0);
  auto raw = ev::LoadStream(Options(ev::Format::kFoursquare, path, true));
  REQUIRE(raw.ok());
  REQUIRE(raw->events.size() == 2);
  CHECK(raw->events[0].time == Utc(2012, 4, 3, 18, 0, 6));
  CHECK(raw->events[1].time == Utc(2013, 12, 31, 23, 59, 59));
  CHECK(raw->bad_lines == 2);
  CHECK(raw->bad_examples[1].find(path + ":4:") == 0);
  CHECK(raw->bad_examples[1].find("month name") != std::string::npos);
}

TEST_CASE("recbole atomic .inter: header-driven columns, rating filter, header errors are fatal") {
  TempDir dir;
  const std::string text =
      "timestamp:float\titem_id:token\trating:float\tuser_id:token\n"
      "881250949\t242\t3\t196\n"
      "891717742.5\t302\t5\t186\n"
      "oops\t1\t1\t1\n";
  const std::string path = WriteFile(dir / "ml.inter", text);
  auto failed = ev::LoadStream(Options(ev::Format::kRecbole, path));
  REQUIRE_FALSE(failed.ok());
  CHECK(std::string(failed.status().message()).find(path + ":4: time 'oops'") == 0);
  auto opts = Options(ev::Format::kRecbole, path, true);
  auto raw = ev::LoadStream(opts);
  REQUIRE(raw.ok());
  REQUIRE(raw->events.size() == 2);
  CHECK(raw->user_names[0] == "196");
  CHECK(raw->item_names[1] == "302");
  CHECK(raw->events[1].time == 891717742);
  opts.min_rating = 4;
  auto liked = ev::LoadStream(opts);
  REQUIRE(liked.ok());
  CHECK(liked->events.size() == 1);

  const std::string no_time = WriteFile(dir / "nt.inter", "user_id:token\titem_id:token\n1\t2\n");
  auto missing = ev::LoadStream(Options(ev::Format::kRecbole, no_time, true));
  REQUIRE_FALSE(missing.ok());
  CHECK(std::string(missing.status().message()) == no_time + ":1: header has no time column 'timestamp'");
}

TEST_CASE("generic CSV: column names, delimiter and time pattern from options") {
  TempDir dir;
  const std::string text =
      "when;who;what\n"
      "2020-02-29 23:59:59;alice;book\n"
      "2021-01-01 00:00:00;bob;book\n"
      "2021-02-29 00:00:00;bob;pen\n";
  const std::string path = WriteFile(dir / "x.csv", text);
  ev::LoadOptions o = Options(ev::Format::kCsv, path, true);
  o.delimiter = ';';
  o.user_col = "who";
  o.item_col = "what";
  o.time_col = "when";
  o.time_format = "%Y-%m-%d %H:%M:%S";
  auto raw = ev::LoadStream(o);
  REQUIRE(raw.ok());
  REQUIRE(raw->events.size() == 2);
  CHECK(raw->events[0].time == Utc(2020, 2, 29, 23, 59, 59));
  CHECK(raw->bad_lines == 1);  // 2021-02-29 does not exist
  CHECK(raw->bad_examples[0].find("no such date") != std::string::npos);

  const std::string ms = WriteFile(dir / "ms.csv", "u,i,t\n1,2,1700000000123\n");
  ev::LoadOptions m = Options(ev::Format::kCsv, ms);
  m.user_col = "u";
  m.item_col = "i";
  m.time_col = "t";
  m.time_format = "unix_ms";
  auto raw_ms = ev::LoadStream(m);
  REQUIRE(raw_ms.ok());
  CHECK(raw_ms->events[0].time == 1700000000);
}

TEST_CASE("missing input file is NOT_FOUND; a directory is only for netflix") {
  TempDir dir;
  auto missing = ev::LoadStream(Options(ev::Format::kRecbole, dir / "nope.inter"));
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.status().code() == absl::StatusCode::kNotFound);
  auto directory = ev::LoadStream(Options(ev::Format::kRecbole, dir.path().string()));
  REQUIRE_FALSE(directory.ok());
  CHECK(directory.status().code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("time patterns: zone offsets, impossible dates, unsupported directives") {
  auto t = ev::ParseTime("Tue Apr 03 18:00:06 +0130 2012", "%a %b %d %H:%M:%S %z %Y");
  REQUIRE(t.ok());
  CHECK(*t == Utc(2012, 4, 3, 16, 30, 6));
  CHECK_FALSE(ev::ParseTime("2015-02-30", "%Y-%m-%d").ok());
  CHECK_FALSE(ev::ParseTime("2015-01-01x", "%Y-%m-%d").ok());
  CHECK_FALSE(ev::ParseTime("2015", "%Q").ok());
  CHECK(*ev::ParseTime("1969-12-31 23", "%Y-%m-%d %H") == -3600);
}
