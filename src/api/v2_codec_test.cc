#include "api/v2_codec.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

namespace continuum::v2 {
namespace {

using ::testing::HasSubstr;

template <typename T>
std::string Bytes(std::initializer_list<T> values) {
  std::string out;
  for (T v : values) {
    char buf[sizeof(T)];
    std::memcpy(buf, &v, sizeof(T));
    out.append(buf, sizeof(T));
  }
  return out;
}

std::string BytesElements(std::initializer_list<std::string_view> elements) {
  std::string out;
  for (auto e : elements) AppendBytesElement(out, e);
  return out;
}

// A request with one input; `extra` is spliced into the input object.
std::string OneInput(std::string_view dtype, std::string_view shape, std::string_view data) {
  return R"({"inputs":[{"name":"x","datatype":")" + std::string(dtype) + R"(","shape":)" +
         std::string(shape) + R"(,"data":)" + std::string(data) + "}]}";
}

Tensor ParseOne(const std::string& body) {
  auto r = ParseInferRequest(body, std::nullopt);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  if (!r.ok()) return {};
  EXPECT_EQ(r->inputs.size(), 1u);
  return r->inputs.at(0);
}

// Expects parsing to fail with kInvalidArgument and a message containing `needle`.
void ExpectError(std::string_view body, std::string_view needle,
                 std::optional<size_t> json_length = std::nullopt, const CodecLimits& limits = {}) {
  auto r = ParseInferRequest(body, json_length, limits);
  ASSERT_FALSE(r.ok()) << "parsed: " << body.substr(0, 200);
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), HasSubstr(std::string(needle)));
}

std::string EncodeOne(Tensor t, bool binary = false) {
  InferResponse resp;
  resp.model_name = "m";
  resp.model_version = 1;
  resp.outputs.push_back(std::move(t));
  resp.binary.push_back(binary);
  return EncodeInferResponse(resp).body;
}

std::string ExpectedJson(std::string_view dtype, std::string_view shape, std::string_view data) {
  return R"({"model_name":"m","model_version":"1","outputs":[{"name":"x","datatype":")" + std::string(dtype) +
         R"(","shape":)" + std::string(shape) + R"(,"data":)" + std::string(data) + "}]}";
}

// Parses a one-input request, checks the bytes, encodes it back and checks the JSON text.
void RoundTrip(std::string_view dtype, std::string_view json_data, const std::string& bytes,
               std::string_view encoded_data) {
  SCOPED_TRACE(std::string(dtype));
  Tensor t = ParseOne(OneInput(dtype, "[2,2]", json_data));
  EXPECT_EQ(t.name, "x");
  EXPECT_EQ(DataTypeName(t.dtype), dtype);
  EXPECT_EQ(t.shape, (Shape{2, 2}));
  EXPECT_EQ(t.data, bytes);
  EXPECT_TRUE(t.Validate().ok());
  EXPECT_EQ(EncodeOne(t), ExpectedJson(dtype, "[2,2]", encoded_data));
}

// ---------------------------------------------------------------------------------------------
// Datatypes

TEST(V2Codec, BoolRoundTrip) {
  RoundTrip("BOOL", "[true,false,1,0]", std::string("\1\0\1\0", 4), "[true,false,true,false]");
}

TEST(V2Codec, IntegerRoundTrips) {
  RoundTrip("UINT8", "[0,1,254,255]", Bytes<uint8_t>({0, 1, 254, 255}), "[0,1,254,255]");
  RoundTrip("UINT16", "[0,1,2,65535]", Bytes<uint16_t>({0, 1, 2, 65535}), "[0,1,2,65535]");
  RoundTrip("UINT32", "[0,1,2,4294967295]", Bytes<uint32_t>({0, 1, 2, 4294967295u}), "[0,1,2,4294967295]");
  RoundTrip("UINT64", "[0,1,9223372036854775808,18446744073709551615]",
            Bytes<uint64_t>({0, 1, 9223372036854775808ull, 18446744073709551615ull}),
            "[0,1,9223372036854775808,18446744073709551615]");
  RoundTrip("INT8", "[-128,-1,0,127]", Bytes<int8_t>({-128, -1, 0, 127}), "[-128,-1,0,127]");
  RoundTrip("INT16", "[-32768,-1,0,32767]", Bytes<int16_t>({-32768, -1, 0, 32767}), "[-32768,-1,0,32767]");
  RoundTrip("INT32", "[-2147483648,-1,0,2147483647]",
            Bytes<int32_t>({std::numeric_limits<int32_t>::min(), -1, 0, 2147483647}),
            "[-2147483648,-1,0,2147483647]");
  RoundTrip("INT64", "[-9223372036854775808,-1,0,9223372036854775807]",
            Bytes<int64_t>({std::numeric_limits<int64_t>::min(), -1, 0, std::numeric_limits<int64_t>::max()}),
            "[-9223372036854775808,-1,0,9223372036854775807]");
}

TEST(V2Codec, IntegralFloatsAreAcceptedForIntegers) {
  Tensor t = ParseOne(OneInput("INT32", "[3]", "[2.0,-1e3,0.0]"));
  EXPECT_EQ(t.data, Bytes<int32_t>({2, -1000, 0}));
}

TEST(V2Codec, FloatRoundTrips) {
  RoundTrip("FP32", "[1.5,-0.1,3,1e-45]", Bytes<float>({1.5f, -0.1f, 3.0f, 1e-45f}), "[1.5,-0.1,3,1e-45]");
  RoundTrip("FP64", "[1.5,-0.1,3,2.2250738585072014e-308]",
            Bytes<double>({1.5, -0.1, 3.0, 2.2250738585072014e-308}), "[1.5,-0.1,3,2.2250738585072014e-308]");
  RoundTrip(
      "FP16", "[1.5,-2,65504,0.0001]",
      Bytes<uint16_t>({FloatToHalf(1.5f), FloatToHalf(-2.0f), FloatToHalf(65504.0f), FloatToHalf(0.0001f)}),
      "[1.5,-2,65504,0.000100016594]");
  RoundTrip("BF16", "[1.5,-2,3e38,0.1]",
            Bytes<uint16_t>({FloatToBf16(1.5f), FloatToBf16(-2.0f), FloatToBf16(3e38f), FloatToBf16(0.1f)}),
            "[1.5,-2,3.0040553e+38,0.100097656]");
}

TEST(V2Codec, BytesRoundTrip) {
  RoundTrip("BYTES", R"(["a","",  "q\"\\\n", "\u00e9\u0000z"])",
            BytesElements({"a", "", "q\"\\\n", std::string_view("\xc3\xa9\0z", 4)}),
            R"(["a","","q\"\\\n","é\u0000z"])");
}

TEST(V2Codec, NegativeZeroAndNonFiniteEncoding) {
  Tensor t{"x", DataType::kFp32, {3}, Bytes<float>({-0.0f, NAN, INFINITY})};
  EXPECT_EQ(EncodeOne(t), ExpectedJson("FP32", "[3]", "[-0.0,null,null]"));
  Tensor d{"x", DataType::kFp64, {2}, Bytes<double>({-0.0, -INFINITY})};
  EXPECT_EQ(EncodeOne(d), ExpectedJson("FP64", "[2]", "[-0.0,null]"));
}

// The extremes of T (and a few values whose shortest text is long) are written and read back to
// the same bits: the text of each fits the buffers the codec writes and reads it with.
template <typename T>
void ExpectExtremesRoundTrip(DataType dtype, std::string_view name, std::initializer_list<T> more) {
  std::string data = Bytes<T>({-std::numeric_limits<T>::max(), -std::numeric_limits<T>::min(),
                               -std::numeric_limits<T>::denorm_min()});
  data += Bytes<T>(more);
  const std::string json = EncodeOne(Tensor{"x", dtype, {6}, data});
  const size_t at = json.find("\"data\":");
  Tensor back = ParseOne(OneInput(name, "[6]", json.substr(at + 7, json.size() - at - 10)));
  EXPECT_EQ(back.data, data) << name;
}

TEST(V2Codec, ExtremeFloatsFitTheirBuffers) {
  ExpectExtremesRoundTrip<float>(DataType::kFp32, "FP32", {-1.17549435e-38f, -1.00000012f, -123456.789f});
  ExpectExtremesRoundTrip<double>(DataType::kFp64, "FP64",
                                  {-2.2250738585072014e-308, -1.0000000000000002, -0.1234567890123456});
}

TEST(V2Codec, NestedDataIsFlattened) {
  Tensor t = ParseOne(OneInput("INT32", "[2,3]", "[[1,2,3],[4,[5],[[6]]]]"));
  EXPECT_EQ(t.data, Bytes<int32_t>({1, 2, 3, 4, 5, 6}));
  Tensor s = ParseOne(OneInput("FP32", "[]", "7"));  // a scalar may be a bare value
  EXPECT_EQ(s.data, Bytes<float>({7.0f}));
  Tensor e = ParseOne(OneInput("FP32", "[0,4]", "[[]]"));
  EXPECT_EQ(e.data, "");
}

// ---------------------------------------------------------------------------------------------
// Request structure

TEST(V2Codec, IdParametersAndOutputs) {
  auto r = ParseInferRequest(
      R"({"id":"req-7","parameters":{"binary_data_output":true,"priority":3,"tag":"a b"},
          "inputs":[{"name":"a","datatype":"INT64","shape":[1],"data":[5],"parameters":{"x":1}},
                    {"name":"b","datatype":"BOOL","shape":[2],"data":[true,false]}],
          "outputs":[{"name":"y","parameters":{"binary_data":false}},{"name":"z"},
                     {"name":"w","parameters":{"binary_data":true,"class":2}}],
          "unknown":{"ignored":[1,2,3]}})",
      std::nullopt);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->id, "req-7");
  EXPECT_EQ(r->parameters_json, R"({"binary_data_output":true,"priority":3,"tag":"a b"})");
  EXPECT_TRUE(r->binary_data_output);
  ASSERT_EQ(r->inputs.size(), 2u);
  EXPECT_EQ(r->inputs[0].name, "a");
  EXPECT_EQ(r->inputs[1].data, std::string("\1\0", 2));
  ASSERT_EQ(r->outputs.size(), 3u);
  EXPECT_EQ(r->outputs[0].name, "y");
  EXPECT_FALSE(r->outputs[0].binary);
  EXPECT_EQ(r->outputs[1].name, "z");
  EXPECT_TRUE(r->outputs[1].binary);  // the request-level default
  EXPECT_TRUE(r->outputs[2].binary);
}

TEST(V2Codec, DefaultsWithoutOptionalFields) {
  auto r = ParseInferRequest(OneInput("FP32", "[1]", "[1]"), std::nullopt);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->id, "");
  EXPECT_EQ(r->parameters_json, "");
  EXPECT_FALSE(r->binary_data_output);
  EXPECT_TRUE(r->outputs.empty());
}

TEST(V2Codec, EncodesIdParametersAndVersion) {
  InferResponse resp;
  resp.id = "r\"1";
  resp.model_name = "net";
  resp.model_version = 12;
  resp.parameters_json = R"({"k":"v"})";
  resp.outputs.push_back(Tensor{"y", DataType::kInt32, {2}, Bytes<int32_t>({1, -2})});
  resp.outputs.push_back(Tensor{"z", DataType::kBool, {1, 1}, std::string("\1", 1)});
  EncodedResponse e = EncodeInferResponse(resp);
  EXPECT_FALSE(e.json_length.has_value());
  EXPECT_EQ(e.body, R"({"id":"r\"1","model_name":"net","model_version":"12","parameters":{"k":"v"},)"
                    R"("outputs":[{"name":"y","datatype":"INT32","shape":[2],"data":[1,-2]},)"
                    R"({"name":"z","datatype":"BOOL","shape":[1,1],"data":[true]}]})");
}

TEST(V2Codec, EncodesNonUtf8BytesAsValidJson) {
  Tensor t{"x", DataType::kBytes, {2}, BytesElements({"ok", "\xff\xc3(\xed\xa0\x80"})};
  EXPECT_EQ(EncodeOne(t),
            ExpectedJson("BYTES", "[2]",
                         "[\"ok\",\"\xEF\xBF\xBD\xEF\xBF\xBD(\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\"]"));
}

TEST(V2Codec, ErrorBody) {
  EXPECT_EQ(ErrorBody("bad \"x\"\n"), R"({"error":"bad \"x\"\n"})");
  EXPECT_EQ(ErrorBody("\xff"), "{\"error\":\"\xEF\xBF\xBD\"}");
}

// ---------------------------------------------------------------------------------------------
// Binary extension

TEST(V2Codec, BinaryInputs) {
  std::string json =
      R"({"inputs":[{"name":"a","datatype":"FP32","shape":[2],"parameters":{"binary_data_size":8}},)"
      R"({"name":"j","datatype":"INT8","shape":[1],"data":[3]},)"
      R"({"name":"s","datatype":"BYTES","shape":[2],"parameters":{"binary_data_size":13}},)"
      R"({"name":"e","datatype":"FP16","shape":[0],"parameters":{"binary_data_size":0}}]})";
  std::string a = Bytes<float>({1.0f, -2.5f});
  std::string s = BytesElements({"hello", ""});
  ASSERT_EQ(s.size(), 13u);
  std::string body = json + a + s;
  auto r = ParseInferRequest(body, json.size());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->inputs.size(), 4u);
  EXPECT_EQ(r->inputs[0].data, a);
  EXPECT_EQ(r->inputs[1].data, Bytes<int8_t>({3}));
  EXPECT_EQ(r->inputs[2].data, s);
  EXPECT_EQ(r->inputs[3].data, "");

  // json_length == body size: no binary section at all is fine.
  std::string plain = OneInput("INT8", "[1]", "[1]");
  EXPECT_TRUE(ParseInferRequest(plain, plain.size()).ok());
}

TEST(V2Codec, BinaryOutputs) {
  InferResponse resp;
  resp.model_name = "m";
  resp.model_version = 3;
  std::string f = Bytes<float>({1.0f, 2.0f});
  std::string s = BytesElements({"ab", "c"});
  resp.outputs.push_back(Tensor{"f", DataType::kFp32, {2}, f});
  resp.outputs.push_back(Tensor{"i", DataType::kInt16, {1}, Bytes<int16_t>({-4})});
  resp.outputs.push_back(Tensor{"s", DataType::kBytes, {2}, s});
  resp.binary = {true, false, true};
  EncodedResponse e = EncodeInferResponse(resp);
  const std::string json =
      R"({"model_name":"m","model_version":"3","outputs":[)"
      R"({"name":"f","datatype":"FP32","shape":[2],"parameters":{"binary_data_size":8}},)"
      R"({"name":"i","datatype":"INT16","shape":[1],"data":[-4]},)"
      R"({"name":"s","datatype":"BYTES","shape":[2],"parameters":{"binary_data_size":11}}]})";
  ASSERT_TRUE(e.json_length.has_value());
  EXPECT_EQ(*e.json_length, json.size());
  EXPECT_EQ(e.body, json + f + s);
}

TEST(V2Codec, BinarySectionErrors) {
  std::string json =
      R"({"inputs":[{"name":"a","datatype":"INT32","shape":[2],"parameters":{"binary_data_size":8}}]})";
  std::string data = Bytes<int32_t>({1, 2});
  ExpectError(json + data.substr(0, 5), "inputs[0].parameters.binary_data_size: binary section too short",
              json.size());
  ExpectError(json + data.substr(0, 5), "short by 3 bytes", json.size());
  ExpectError(json + data + "xyz", "binary section too long: 3 bytes left over", json.size());
  ExpectError(json + data, "exceeds the request body size", json.size() + data.size() + 1);
  ExpectError(json,
              "inputs[0].parameters.binary_data_size: binary data needs the "
              "Inference-Header-Content-Length header");
  // Leftover bytes without any binary input.
  std::string plain = OneInput("INT8", "[1]", "[1]");
  ExpectError(plain + "!", "1 bytes left over", plain.size());

  std::string wrong =
      R"({"inputs":[{"name":"a","datatype":"INT32","shape":[2],"parameters":{"binary_data_size":7}}]})";
  ExpectError(wrong + data.substr(0, 7),
              "inputs[0].parameters.binary_data_size: 7 bytes but shape [2] of INT32 needs 8", wrong.size());

  // More bytes than the shape needs is refused too, even when the section holds them all (the
  // extra bytes would otherwise be read as the next input's data or dropped silently).
  std::string large =
      R"({"inputs":[{"name":"a","datatype":"INT32","shape":[2],"parameters":{"binary_data_size":12}}]})";
  ExpectError(large + data + Bytes<int32_t>({3}),
              "inputs[0].parameters.binary_data_size: 12 bytes but shape [2] of INT32 needs 8", large.size());
  std::string large_then_next =
      R"({"inputs":[{"name":"a","datatype":"INT32","shape":[2],"parameters":{"binary_data_size":12}},)"
      R"({"name":"b","datatype":"INT32","shape":[1],"parameters":{"binary_data_size":4}}]})";
  ExpectError(large_then_next + data + Bytes<int32_t>({3}) + Bytes<int32_t>({4}),
              "inputs[0].parameters.binary_data_size: 12 bytes but shape [2] of INT32 needs 8",
              large_then_next.size());
  // BYTES: a size past the elements the shape declares leaves bytes no element owns.
  std::string bytes_large =
      R"({"inputs":[{"name":"a","datatype":"BYTES","shape":[1],"parameters":{"binary_data_size":12}}]})";
  ExpectError(bytes_large + BytesElements({"hello"}) + "xyz", "inputs[0]: binary data", bytes_large.size());

  std::string both =
      R"({"inputs":[{"name":"a","datatype":"INT32","shape":[2],"data":[1,2],"parameters":{"binary_data_size":8}}]})";
  ExpectError(both + data, "inputs[0]: has both 'data' and 'parameters.binary_data_size'", both.size());

  std::string bad_bool =
      R"({"inputs":[{"name":"a","datatype":"BOOL","shape":[2],"parameters":{"binary_data_size":2}}]})";
  ExpectError(bad_bool + std::string("\1\2", 2), "inputs[0]: binary BOOL element 1 is 2", bad_bool.size());

  std::string bytes =
      R"({"inputs":[{"name":"a","datatype":"BYTES","shape":[2],"parameters":{"binary_data_size":9}}]})";
  ExpectError(bytes + BytesElements({"hello"}),
              "inputs[0]: binary data: holds 1 BYTES elements but the shape needs 2", bytes.size());
  std::string broken = BytesElements({"hello"});
  broken[0] = 9;
  ExpectError(bytes + broken, "inputs[0]: binary data: BYTES element 0 declares 9 bytes", bytes.size());

  std::string negative =
      R"({"inputs":[{"name":"a","datatype":"INT8","shape":[1],"parameters":{"binary_data_size":-1}}]})";
  ExpectError(negative + "x",
              "inputs[0].parameters.binary_data_size: expected a non-negative integer, got -1",
              negative.size());
}

// ---------------------------------------------------------------------------------------------
// Bad requests

TEST(V2Codec, MalformedJson) {
  ExpectError("", "request body: empty");
  ExpectError(R"({"inputs":[)", "request body: invalid JSON");
  ExpectError(R"({"inputs":[]} trailing)", "request body: invalid JSON");
  ExpectError("[1,2]", "request body: expected a JSON object, got an array");
  ExpectError("\"\xff\"", "request body: invalid JSON");
}

TEST(V2Codec, TooDeep) {
  ExpectError(std::string(10000, '[') + std::string(10000, ']'),
              "request body: JSON nesting is deeper than the limit of 32");
  ExpectError(OneInput("INT32", "[1]", std::string(10000, '[') + "1" + std::string(10000, ']')),
              "request body: JSON nesting is deeper than the limit of 32");
  ExpectError(std::string(10000, '['), "request body: invalid JSON");  // unbalanced as well
  std::string deep = std::string(40, '[') + "1" + std::string(40, ']');
  ExpectError(OneInput("INT32", "[1]", deep), "deeper than the limit of 32");
  // Exactly at the limit is fine: object, array, object, then 29 data levels = 32.
  std::string ok = std::string(29, '[') + "1" + std::string(29, ']');
  EXPECT_TRUE(ParseInferRequest(OneInput("INT32", "[1]", ok), std::nullopt).ok());
  std::string over = std::string(30, '[') + "1" + std::string(30, ']');
  ExpectError(OneInput("INT32", "[1]", over), "deeper than the limit of 32");
  CodecLimits shallow;
  shallow.max_json_depth = 3;
  ExpectError(OneInput("INT32", "[1,1]", "[[1],[1]]"), "deeper than the limit of 3", std::nullopt, shallow);
}

TEST(V2Codec, FieldErrors) {
  ExpectError(R"({"id":"x"})", "request body: missing required field 'inputs'");
  ExpectError(R"({"inputs":{}})", "inputs: expected an array, got an object");
  auto empty = ParseInferRequest(R"({"inputs":[]})", std::nullopt);
  ASSERT_TRUE(empty.ok()) << empty.status().ToString();
  EXPECT_TRUE(empty->inputs.empty());
  ExpectError(R"({"inputs":[3]})", "inputs[0]: expected an object, got 3");
  ExpectError(R"({"id":5,"inputs":[]})", "id: expected a string, got 5");
  ExpectError(R"({"parameters":[],"inputs":[]})", "parameters: expected an object, got an array");
  ExpectError(R"({"parameters":{"binary_data_output":1},"inputs":[]})",
              "parameters.binary_data_output: expected true or false, got 1");
  ExpectError(R"({"inputs":[{"datatype":"FP32","shape":[1],"data":[1]}]})",
              "inputs[0]: missing required field 'name'");
  ExpectError(R"({"inputs":[{"name":"a","datatype":"FP32","data":[1]}]})",
              "inputs[0]: missing required field 'shape'");
  ExpectError(R"({"inputs":[{"name":"a","shape":[1],"data":[1]}]})",
              "inputs[0]: missing required field 'datatype'");
  ExpectError(R"({"inputs":[{"name":"a","datatype":"FP32","shape":[1]}]})", "inputs[0]: missing 'data'");
  ExpectError(R"({"inputs":[{"name":1,"datatype":"FP32","shape":[1],"data":[1]}]})",
              "inputs[0].name: expected a string, got 1");
  ExpectError(R"({"inputs":[{"name":"a","datatype":"FP32","shape":[1],"data":[1]},)"
              R"({"name":"a","datatype":"FP32","shape":[1],"data":[1]}]})",
              "inputs[1].name: 'a' is already used by inputs[0]");
  ExpectError(R"({"inputs":[{"name":"a","datatype":"FP32","shape":[1],"data":[1],"parameters":5}]})",
              "inputs[0].parameters: expected an object, got 5");
}

TEST(V2Codec, OutputErrors) {
  std::string in = R"("inputs":[{"name":"a","datatype":"FP32","shape":[1],"data":[1]}])";
  ExpectError("{" + in + R"(,"outputs":{}})", "outputs: expected an array, got an object");
  ExpectError("{" + in + R"(,"outputs":[{}]})", "outputs[0]: missing required field 'name'");
  ExpectError("{" + in + R"(,"outputs":[{"name":"y"},{"name":"y"}]})",
              "outputs[1].name: 'y' is already requested by outputs[0]");
  ExpectError("{" + in + R"(,"outputs":[{"name":"y","parameters":{"binary_data":"yes"}}]})",
              "outputs[0].parameters.binary_data: expected true or false, got a string");
  // Triton's classification and shared memory parameters are refused by name, not ignored.
  ExpectError(
      "{" + in + R"(,"outputs":[{"name":"y","parameters":{"classification":3}}]})",
      "outputs[0].parameters.classification: the classification extension is not supported; request the "
      "tensor itself");
  ExpectError(
      "{" + in +
          R"(,"outputs":[{"name":"y","parameters":{"shared_memory_region":"r","shared_memory_byte_size":4}}]})",
      "outputs[0].parameters.shared_memory_region: the shared memory extension is not supported (it is not "
      "among the server's extensions); send the tensor in the body");
  ExpectError(
      R"({"inputs":[{"name":"a","datatype":"FP32","shape":[1],"parameters":{"shared_memory_region":"r","shared_memory_byte_size":4}}]})",
      "inputs[0].parameters.shared_memory_region: the shared memory extension is not supported (it is not "
      "among the "
      "server's extensions); send the tensor in the body");
  CodecLimits limits;
  limits.max_outputs = 1;
  ExpectError("{" + in + R"(,"outputs":[{"name":"y"},{"name":"z"}]})",
              "outputs: 2 requested outputs exceed the limit of 1", std::nullopt, limits);
}

TEST(V2Codec, TooManyInputs) {
  CodecLimits limits;
  limits.max_inputs = 1;
  ExpectError(R"({"inputs":[{"name":"a","datatype":"FP32","shape":[1],"data":[1]},)"
              R"({"name":"b","datatype":"FP32","shape":[1],"data":[1]}]})",
              "inputs: 2 inputs exceed the limit of 1", std::nullopt, limits);
}

TEST(V2Codec, DatatypeAndShapeErrors) {
  ExpectError(OneInput("FP8", "[1]", "[1]"), "inputs[0].datatype: unknown datatype 'FP8'");
  ExpectError(OneInput("fp32", "[1]", "[1]"), "unknown datatype 'fp32'");
  ExpectError(OneInput(std::string(200, 'A'), "[1]", "[1]"), "unknown datatype 'AAAA");
  ExpectError(OneInput("FP32", "[2,-3]", "[1]"),
              "inputs[0].shape[1]: expected a non-negative integer, got -3");
  ExpectError(OneInput("FP32", "[1.5]", "[1]"),
              "inputs[0].shape[0]: expected a non-negative integer, got 1.5");
  ExpectError(OneInput("FP32", "3", "[1]"),
              "inputs[0].shape: expected an array of non-negative integers, got 3");
  ExpectError(OneInput("FP32", "[18446744073709551615]", "[1]"),
              "inputs[0].shape[0]: dimension 18446744073709551615 is too large");
  ExpectError(OneInput("FP32", "[1099511627776,1099511627776]", "[1]"),
              "inputs[0].shape: shape [1099511627776,1099511627776] has more than");
  CodecLimits limits;
  limits.max_tensor_elements = 4;
  ExpectError(OneInput("FP32", "[5]", "[1,2,3,4,5]"), "inputs[0].shape: shape [5] has more than 4 elements",
              std::nullopt, limits);
}

TEST(V2Codec, DataErrors) {
  ExpectError(OneInput("INT32", "[3]", "[1,2]"), "inputs[0].data: holds 2 elements but shape [3] needs 3");
  ExpectError(OneInput("INT32", "[2]", "[1,2,3]"), "inputs[0].data: holds 3 elements but shape [2] needs 2");
  ExpectError(OneInput("INT32", "[2,2]", "[[1,2],[3,4,5]]"), "holds 5 elements but shape [2,2] needs 4");
  ExpectError(OneInput("INT32", "[1000]", "[1]"), "holds 1 elements but shape [1000] needs 1000");
  ExpectError(R"({"inputs":[{"name":"a","datatype":"FP32","shape":[1],"data":[1]},)"
              R"({"name":"b","datatype":"INT32","shape":[8],"data":[0,1,2,3,4,5,6,3.5]}]})",
              "inputs[1].data[7]: expected an integer for INT32, got 3.5");
  ExpectError(OneInput("INT32", "[2,2]", "[[1,2],[3,\"x\"]]"),
              "inputs[0].data[1][1]: expected an integer for INT32, got a string");
  ExpectError(OneInput("UINT8", "[2]", "[1,256]"), "inputs[0].data[1]: 256 is out of range for UINT8");
  ExpectError(OneInput("UINT32", "[1]", "[-1]"), "inputs[0].data[0]: -1 is out of range for UINT32");
  ExpectError(OneInput("INT8", "[1]", "[-129]"), "-129 is out of range for INT8");
  ExpectError(OneInput("INT64", "[1]", "[9223372036854775808]"),
              "9223372036854775808 is out of range for INT64");
  ExpectError(OneInput("INT64", "[1]", "[1e300]"), "expected an integer for INT64, got 1e+300");
  ExpectError(OneInput("INT16", "[1]", "[true]"),
              "inputs[0].data[0]: expected an integer for INT16, got true");
  ExpectError(OneInput("BOOL", "[1]", "[2]"),
              "inputs[0].data[0]: expected true, false, 0 or 1 for BOOL, got 2");
  ExpectError(OneInput("BOOL", "[1]", "[null]"), "expected true, false, 0 or 1 for BOOL, got null");
  ExpectError(OneInput("FP32", "[1]", "[\"1.0\"]"),
              "inputs[0].data[0]: expected a number for FP32, got a string");
  ExpectError(OneInput("FP32", "[1]", "[{}]"), "expected a number for FP32, got an object");
  ExpectError(OneInput("FP32", "[1]", "[1e39]"), "inputs[0].data[0]: 1e+39 is out of range for FP32");
  ExpectError(OneInput("FP16", "[1]", "[70000]"), "70000 is out of range for FP16");
  ExpectError(OneInput("BF16", "[1]", "[1e39]"), "1e+39 is out of range for BF16");
  ExpectError(OneInput("BYTES", "[2]", "[\"a\",1]"), "inputs[0].data[1]: expected a string for BYTES, got 1");
}

TEST(V2Codec, ThreadLocalParserAdaptsToLimits) {
  // The per-thread parser is re-armed when the depth limit changes between calls.
  CodecLimits shallow;
  shallow.max_json_depth = 4;
  std::string body = OneInput("INT32", "[1]", "[[1]]");
  EXPECT_TRUE(ParseInferRequest(body, std::nullopt).ok());
  EXPECT_FALSE(ParseInferRequest(body, std::nullopt, shallow).ok());
  EXPECT_TRUE(ParseInferRequest(body, std::nullopt).ok());
  // A body larger than the reused parser's threshold.
  std::string big = "[";
  for (int i = 0; i < 100000; ++i) big += i ? ",1.25" : "1.25";
  big += "]";
  Tensor t = ParseOne(OneInput("FP32", "[100000]", big));
  EXPECT_EQ(t.data.size(), 400000u);
}

// ---------------------------------------------------------------------------------------------
// Speed (informational; printed, not asserted)

TEST(V2Codec, Speed) {
  const std::string small = R"({"id":"1","inputs":[{"name":"x","shape":[1,4],"datatype":"FP32",)"
                            R"("data":[1.0,2.5,-3.25,4.125]}],"outputs":[{"name":"y"}]})";
  constexpr int kIters = 20000;
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < kIters; ++i) {
    auto r = ParseInferRequest(small, std::nullopt);
    ASSERT_TRUE(r.ok());
  }
  auto t1 = std::chrono::steady_clock::now();
  InferResponse resp;
  resp.id = "1";
  resp.model_name = "m";
  resp.model_version = 1;
  resp.outputs.push_back(Tensor{"y", DataType::kFp32, {1, 4}, Bytes<float>({1.0f, 2.5f, -3.25f, 4.125f})});
  resp.binary = {false};
  for (int i = 0; i < kIters; ++i) {
    auto e = EncodeInferResponse(resp);
    ASSERT_FALSE(e.body.empty());
  }
  auto t2 = std::chrono::steady_clock::now();

  std::string big = "[";
  constexpr int kBig = 250000;
  for (int i = 0; i < kBig; ++i) big += (i ? "," : "") + std::to_string(i * 0.37f);
  big += "]";
  std::string big_body = OneInput("FP32", "[" + std::to_string(kBig) + "]", big);
  auto t3 = std::chrono::steady_clock::now();
  Tensor bt = ParseOne(big_body);
  auto t4 = std::chrono::steady_clock::now();
  std::string encoded = EncodeOne(bt);
  auto t5 = std::chrono::steady_clock::now();
  using us = std::chrono::duration<double, std::micro>;
  std::printf("small request parse: %.2f us, small response encode: %.2f us\n", us(t1 - t0).count() / kIters,
              us(t2 - t1).count() / kIters);
  std::printf("%d FP32 parse: %.1f ms (%.0f MB/s), encode: %.1f ms (%.0f MB/s)\n", kBig,
              us(t4 - t3).count() / 1000, big_body.size() / us(t4 - t3).count(), us(t5 - t4).count() / 1000,
              encoded.size() / us(t5 - t4).count());
}

}  // namespace
}  // namespace continuum::v2
