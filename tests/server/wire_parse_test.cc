// The server's own request parsing (server/wire_parse.h): UTF-8 checking and the field path it reports.
#include <catch2/catch.hpp>

#include "gpt4rec/v1/recommender.pb.h"
#include "server/wire_parse.h"

using gpt4rec::server::FirstInvalidUtf8Field;
using gpt4rec::server::IsValidUtf8;

TEST_CASE("IsValidUtf8: well-formed text yes; stray, truncated, overlong, surrogate, out-of-range bytes no") {
  CHECK(IsValidUtf8(""));
  CHECK(IsValidUtf8("plain ascii"));
  CHECK(IsValidUtf8("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"));  // é € 😀
  CHECK_FALSE(IsValidUtf8("\xff"));
  CHECK_FALSE(IsValidUtf8("\x80"));              // continuation byte alone
  CHECK_FALSE(IsValidUtf8("\xc3"));              // truncated
  CHECK_FALSE(IsValidUtf8("\xc0\xaf"));          // overlong '/'
  CHECK_FALSE(IsValidUtf8("\xed\xa0\x80"));      // UTF-16 surrogate
  CHECK_FALSE(IsValidUtf8("\xf4\x90\x80\x80"));  // above U+10FFFF
}

TEST_CASE("FirstInvalidUtf8Field names the repeated field's index and the nested field") {
  gpt4rec::v1::IngestRequest req;
  for (int i = 0; i < 4; ++i) {
    auto* e = req.add_events();
    e->set_user_id("u" + std::to_string(i));
    e->set_item_id("i");
    e->set_timestamp(5);
  }
  // Serialization keeps the bytes (protobuf only logs); the server sees exactly what a hostile client sends.
  req.mutable_events(3)->set_event_id("\xfe\xfe");
  CHECK(FirstInvalidUtf8Field(req.SerializeAsString(), req.GetDescriptor()) == "events[3].event_id");
  req.mutable_events(1)->set_item_id("ok\xc3");
  CHECK(FirstInvalidUtf8Field(req.SerializeAsString(), req.GetDescriptor()) == "events[1].item_id");

  gpt4rec::v1::RecommendRequest rec;
  rec.set_user_id("fine");
  rec.add_exclude_item_ids("a");
  rec.add_exclude_item_ids("\x80");
  CHECK(FirstInvalidUtf8Field(rec.SerializeAsString(), rec.GetDescriptor()) == "exclude_item_ids[1]");
  rec.set_user_id("\xff");
  CHECK(FirstInvalidUtf8Field(rec.SerializeAsString(), rec.GetDescriptor()) == "user_id");

  gpt4rec::v1::IngestRequest good;
  good.add_events()->set_user_id("ok");
  CHECK(FirstInvalidUtf8Field(good.SerializeAsString(), good.GetDescriptor()).empty());
}
