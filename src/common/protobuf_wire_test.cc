#include "common/protobuf_wire.h"

#include <gtest/gtest.h>

#include <string>

namespace continuum::protobuf {
namespace {

std::string Bytes(std::initializer_list<int> b) {
  std::string s;
  for (int x : b) s.push_back(static_cast<char>(x));
  return s;
}

TEST(ProtobufWire, ReadsEveryWireType) {
  // 1: varint 300; 2: "hi"; 3: fixed64; 4: fixed32.
  const std::string data =
      Bytes({0x08, 0xac, 0x02, 0x12, 0x02, 'h', 'i', 0x19, 1, 2, 3, 4, 5, 6, 7, 8, 0x25, 1, 2, 3, 4});
  WireReader r(data);
  Field f;
  ASSERT_TRUE(r.Next(&f));
  EXPECT_EQ(f.number, 1u);
  EXPECT_EQ(f.wire_type, kVarint);
  EXPECT_EQ(f.varint, 300u);
  ASSERT_TRUE(r.Next(&f));
  EXPECT_EQ(f.number, 2u);
  EXPECT_EQ(f.wire_type, kLengthDelimited);
  EXPECT_EQ(f.bytes, "hi");
  ASSERT_TRUE(r.Next(&f));
  EXPECT_EQ(f.number, 3u);
  EXPECT_EQ(f.wire_type, kFixed64);
  EXPECT_TRUE(f.bytes.empty());
  ASSERT_TRUE(r.Next(&f));
  EXPECT_EQ(f.number, 4u);
  EXPECT_EQ(f.wire_type, kFixed32);
  EXPECT_TRUE(r.done());
}

TEST(ProtobufWire, NestedMessagesAreReadersOverTheirBytes) {
  const std::string inner = Bytes({0x08, 0x05});
  const std::string outer = Bytes({0x3a, 0x02}) + inner;  // field 7, length-delimited
  WireReader r(outer);
  Field f;
  ASSERT_TRUE(r.Next(&f));
  EXPECT_EQ(f.number, 7u);
  WireReader n(f.bytes);
  Field g;
  ASSERT_TRUE(n.Next(&g));
  EXPECT_EQ(g.varint, 5u);
  EXPECT_TRUE(n.done());
}

TEST(ProtobufWire, MalformedFramingIsRefused) {
  const std::string cases[] = {
      Bytes({0x08}),                                                                    // varint missing
      Bytes({0x08, 0x80}),                                                              // varint truncated
      Bytes({0x12, 0x05, 'a'}),                                                         // length past the end
      Bytes({0x12, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}),              // huge length
      Bytes({0x19, 1, 2, 3}),                                                           // fixed64 truncated
      Bytes({0x25, 1}),                                                                 // fixed32 truncated
      Bytes({0x00, 0x01}),                                                              // field number 0
      Bytes({0x0b}),                                                                    // start group
      Bytes({0x0c}),                                                                    // end group
      Bytes({0x08, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01}),  // 11-byte varint
      Bytes({0x80}),                                                                    // tag truncated
  };
  for (const auto& c : cases) {
    WireReader r(c);
    Field f;
    EXPECT_FALSE(r.Next(&f)) << testing::PrintToString(c);
  }
}

TEST(ProtobufWire, TenByteVarintIsTheLongest) {
  const std::string data =
      Bytes({0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01});  // 2^64 - 1
  WireReader r(data);
  Field f;
  ASSERT_TRUE(r.Next(&f));
  EXPECT_EQ(f.varint, UINT64_MAX);
}

}  // namespace
}  // namespace continuum::protobuf
