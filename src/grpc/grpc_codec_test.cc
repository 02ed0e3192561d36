#include "grpc/grpc_codec.h"

#include <gtest/gtest.h>

#include <cstring>
#include <limits>

#include "common/tensor.h"
#include "grpc/grpc_status_map.h"

namespace continuum::grpc_api {
namespace {

using inference::ModelInferRequest;
using inference::ModelInferResponse;

std::string Bytes(const void* p, size_t n) { return std::string(static_cast<const char*>(p), n); }

ModelInferRequest::InferInputTensor* AddInput(ModelInferRequest& r, const std::string& name,
                                              const std::string& dt, std::initializer_list<int64_t> shape) {
  auto* in = r.add_inputs();
  in->set_name(name);
  in->set_datatype(dt);
  for (int64_t d : shape) in->add_shape(d);
  return in;
}

Status Decode(ModelInferRequest r, const v2::CodecLimits& limits = {}) {
  return DecodeInferRequest(&r, limits).status();
}

TEST(GrpcCodec, TypedFp32AndRequestFields) {
  ModelInferRequest r;
  r.set_model_name("m");
  r.set_model_version("3");
  r.set_id("abc");
  auto* in = AddInput(r, "x", "FP32", {2, 2});
  for (float f : {1.0f, -2.5f, 3.0f, 0.25f}) in->mutable_contents()->add_fp32_contents(f);
  r.add_outputs()->set_name("y");
  auto req = DecodeInferRequest(&r, {});
  ASSERT_TRUE(req.ok()) << req.status().message();
  EXPECT_EQ(req->model_name, "m");
  EXPECT_EQ(req->model_version, 3);
  EXPECT_EQ(req->id, "abc");
  ASSERT_EQ(req->inputs.size(), 1u);
  const Tensor& t = req->inputs[0];
  EXPECT_EQ(t.dtype, DataType::kFp32);
  EXPECT_EQ(t.shape, (Shape{2, 2}));
  float want[] = {1.0f, -2.5f, 3.0f, 0.25f};
  EXPECT_EQ(t.data, Bytes(want, sizeof want));
  EXPECT_TRUE(t.Validate().ok());
  ASSERT_EQ(req->outputs.size(), 1u);
  EXPECT_EQ(req->outputs[0].name, "y");
}

TEST(GrpcCodec, TypedNarrowIntegersAreRangeChecked) {
  ModelInferRequest r;
  auto* in = AddInput(r, "x", "INT8", {3});
  for (int v : {-128, 0, 127}) in->mutable_contents()->add_int_contents(v);
  auto req = DecodeInferRequest(&r, {});
  ASSERT_TRUE(req.ok()) << req.status().message();
  EXPECT_EQ(req->inputs[0].data, std::string("\x80\x00\x7f", 3));

  ModelInferRequest bad;
  in = AddInput(bad, "x", "UINT8", {2});
  in->mutable_contents()->add_uint_contents(1);
  in->mutable_contents()->add_uint_contents(256);
  Status st = Decode(bad);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(st.message(), "inputs[0].contents.uint_contents[1]: 256 is out of range for UINT8");
}

TEST(GrpcCodec, TypedBytesAndBool) {
  ModelInferRequest r;
  auto* s = AddInput(r, "s", "BYTES", {2});
  s->mutable_contents()->add_bytes_contents("ab");
  s->mutable_contents()->add_bytes_contents("");
  auto* b = AddInput(r, "b", "BOOL", {2});
  b->mutable_contents()->add_bool_contents(true);
  b->mutable_contents()->add_bool_contents(false);
  auto req = DecodeInferRequest(&r, {});
  ASSERT_TRUE(req.ok()) << req.status().message();
  EXPECT_EQ(req->inputs[0].data, std::string("\x02\0\0\0ab\0\0\0\0", 10));
  EXPECT_EQ(req->inputs[1].data, std::string("\x01\x00", 2));
}

TEST(GrpcCodec, TypedContentsErrorsSayWhere) {
  ModelInferRequest count;
  AddInput(count, "x", "INT32", {1, 4})->mutable_contents()->add_int_contents(1);
  EXPECT_EQ(Decode(count).message(), "inputs[0].contents: holds 1 elements but shape [1,4] needs 4");

  ModelInferRequest wrong;
  AddInput(wrong, "x", "INT64", {1})->mutable_contents()->add_int_contents(1);
  EXPECT_EQ(Decode(wrong).message(),
            "inputs[0].contents: INT64 elements go in int64_contents, but int_contents holds 1");

  ModelInferRequest half;
  AddInput(half, "x", "FP16", {1})->mutable_contents()->add_fp32_contents(1);
  EXPECT_EQ(Decode(half).message(),
            "inputs[0].contents: FP16 has no typed contents field; send the tensor in raw_input_contents");

  ModelInferRequest missing;
  AddInput(missing, "x", "FP32", {1});
  EXPECT_EQ(Decode(missing).message(),
            "inputs[0]: missing 'contents' (or raw_input_contents for the request)");

  ModelInferRequest empty;  // zero elements need no contents
  AddInput(empty, "x", "FP32", {0, 4});
  EXPECT_TRUE(Decode(empty).ok());
}

TEST(GrpcCodec, RawContentsAreMovedAndChecked) {
  ModelInferRequest r;
  AddInput(r, "a", "INT32", {2});
  AddInput(r, "s", "BYTES", {1});
  int32_t a[] = {7, -1};
  r.add_raw_input_contents(Bytes(a, sizeof a));
  r.add_raw_input_contents(std::string("\x03\0\0\0xyz", 7));
  ASSERT_TRUE(UsesRawContents(r));
  auto req = DecodeInferRequest(&r, {});
  ASSERT_TRUE(req.ok()) << req.status().message();
  EXPECT_EQ(req->inputs[0].data, Bytes(a, sizeof a));
  EXPECT_EQ(req->inputs[1].data, std::string("\x03\0\0\0xyz", 7));
  EXPECT_TRUE(r.raw_input_contents(0).empty());  // moved, not copied

  ModelInferRequest size;
  AddInput(size, "a", "FP32", {1, 4});
  size.add_raw_input_contents(std::string(15, '\0'));
  EXPECT_EQ(Decode(size).message(), "raw_input_contents[0]: 15 bytes but shape [1,4] of FP32 needs 16");

  ModelInferRequest framing;
  AddInput(framing, "s", "BYTES", {1});
  framing.add_raw_input_contents(std::string("\x09\0\0\0xyz", 7));
  EXPECT_EQ(Decode(framing).message(),
            "raw_input_contents[0]: BYTES element 0 declares 9 bytes but only 3 remain");

  ModelInferRequest boolean;
  AddInput(boolean, "b", "BOOL", {2});
  boolean.add_raw_input_contents(std::string("\x01\x02", 2));
  EXPECT_EQ(Decode(boolean).message(), "raw_input_contents[0]: BOOL element 1 is 2 (must be 0 or 1)");

  ModelInferRequest count;
  AddInput(count, "a", "FP32", {1});
  AddInput(count, "b", "FP32", {1});
  count.add_raw_input_contents(std::string(4, '\0'));
  EXPECT_EQ(Decode(count).message(), "raw_input_contents: 1 entries for 2 inputs (one per input when used)");

  ModelInferRequest both;
  AddInput(both, "a", "FP32", {1})->mutable_contents()->add_fp32_contents(1);
  both.add_raw_input_contents(std::string(4, '\0'));
  EXPECT_EQ(Decode(both).message(), "inputs[0]: has both 'contents' and raw_input_contents; use one");
}

TEST(GrpcCodec, StructureErrorsMatchTheRestCodec) {
  ModelInferRequest dt;
  AddInput(dt, "x", "FLOAT", {1});
  EXPECT_EQ(
      Decode(dt).message(),
      "inputs[0].datatype: unknown datatype 'FLOAT' (expected BOOL, UINT8..UINT64, INT8..INT64, FP16, BF16, "
      "FP32, FP64 or BYTES)");
  ModelInferRequest name;
  AddInput(name, "", "FP32", {1});
  EXPECT_EQ(Decode(name).message(), "inputs[0]: missing required field 'name'");
  ModelInferRequest neg;
  AddInput(neg, "x", "FP32", {1, -2});
  EXPECT_EQ(Decode(neg).message(), "inputs[0].shape[1]: expected a non-negative integer, got -2");
  ModelInferRequest dup;
  AddInput(dup, "x", "FP32", {0});
  AddInput(dup, "x", "FP32", {0});
  EXPECT_EQ(Decode(dup).message(), "inputs[1].name: 'x' is already used by inputs[0]");
  ModelInferRequest dupout;
  dupout.add_outputs()->set_name("y");
  dupout.add_outputs()->set_name("y");
  EXPECT_EQ(Decode(dupout).message(), "outputs[1].name: 'y' is already requested by outputs[0]");
  ModelInferRequest version;
  version.set_model_version("0");
  EXPECT_EQ(Decode(version).message(), "model version '0' is not a positive integer");
}

TEST(GrpcCodec, LimitsAreTheRestLimits) {
  v2::CodecLimits limits;
  limits.max_tensor_elements = 8;
  limits.max_inputs = 2;
  limits.max_outputs = 1;
  ModelInferRequest big;  // refused before anything is allocated for it
  AddInput(big, "x", "FP32", {3, 3});
  Status st = Decode(big, limits);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(st.message().rfind("inputs[0].shape: ", 0), 0u) << st.message();
  ModelInferRequest overflow;
  AddInput(overflow, "x", "FP32", {std::numeric_limits<int64_t>::max(), 4});
  EXPECT_EQ(Decode(overflow, limits).code(), StatusCode::kInvalidArgument);
  ModelInferRequest inputs;
  for (const char* n : {"a", "b", "c"}) AddInput(inputs, n, "FP32", {0});
  EXPECT_EQ(Decode(inputs, limits).message(), "inputs: 3 inputs exceed the limit of 2");
  ModelInferRequest outputs;
  outputs.add_outputs()->set_name("a");
  outputs.add_outputs()->set_name("b");
  EXPECT_EQ(Decode(outputs, limits).message(), "outputs: 2 requested outputs exceed the limit of 1");
}

InferResponse Response() {
  InferResponse r;
  r.id = "i";
  r.model_name = "m";
  r.model_version = 2;
  Tensor f{"f", DataType::kFp32, {2}, {}};
  float fv[] = {1.5f, -3.0f};
  f.data = Bytes(fv, sizeof fv);
  Tensor i{"i8", DataType::kInt8, {2}, std::string("\xff\x05", 2)};
  Tensor s{"s", DataType::kBytes, {2}, {}};
  AppendBytesElement(s.data, "hi");
  AppendBytesElement(s.data, "");
  r.outputs = {f, i, s};
  return r;
}

TEST(GrpcCodec, EncodeTyped) {
  ModelInferResponse out;
  ASSERT_TRUE(EncodeInferResponse(Response(), /*raw=*/false, &out).ok());
  EXPECT_EQ(out.model_name(), "m");
  EXPECT_EQ(out.model_version(), "2");
  EXPECT_EQ(out.id(), "i");
  EXPECT_EQ(out.raw_output_contents_size(), 0);
  ASSERT_EQ(out.outputs_size(), 3);
  EXPECT_EQ(out.outputs(0).datatype(), "FP32");
  EXPECT_EQ(out.outputs(0).shape(0), 2);
  EXPECT_EQ(out.outputs(0).contents().fp32_contents(1), -3.0f);
  EXPECT_EQ(out.outputs(1).contents().int_contents(0), -1);
  EXPECT_EQ(out.outputs(1).contents().int_contents(1), 5);
  ASSERT_EQ(out.outputs(2).contents().bytes_contents_size(), 2);
  EXPECT_EQ(out.outputs(2).contents().bytes_contents(0), "hi");
}

TEST(GrpcCodec, EncodeRawAndHalfIsAlwaysRaw) {
  InferResponse expect = Response();
  ModelInferResponse out;
  ASSERT_TRUE(EncodeInferResponse(Response(), /*raw=*/true, &out).ok());
  ASSERT_EQ(out.raw_output_contents_size(), 3);
  for (int k = 0; k < 3; ++k) {
    EXPECT_EQ(out.raw_output_contents(k), expect.outputs[k].data);
    EXPECT_FALSE(out.outputs(k).has_contents());
  }
  InferResponse half = Response();
  half.outputs.push_back(Tensor{"h", DataType::kFp16, {1}, std::string("\x00\x3c", 2)});
  ModelInferResponse h;
  ASSERT_TRUE(EncodeInferResponse(std::move(half), /*raw=*/false, &h).ok());
  EXPECT_EQ(h.raw_output_contents_size(), 4);  // one per output: the forms are never mixed
}

// A request's parameters of every InferParameter kind travel in the JSON object REST carries them in
// (keys sorted, a whole double keeps its fraction so that it reads back as a double), and come back
// in the answer's map with the same kinds.
TEST(GrpcCodec, RequestParametersOfEveryKindAreEchoed) {
  ModelInferRequest r;
  auto& p = *r.mutable_parameters();
  p["s"].set_string_param("blue \"x\"");
  p["b"].set_bool_param(true);
  p["i"].set_int64_param(-7);
  p["u"].set_uint64_param(std::numeric_limits<uint64_t>::max());
  p["d"].set_double_param(0.5);
  p["whole"].set_double_param(2.0);
  p["none"];  // no value: JSON null
  auto req = DecodeInferRequest(&r, {});
  ASSERT_TRUE(req.ok()) << req.status().message();
  EXPECT_EQ(req->parameters_json,
            R"({"b":true,"d":0.5,"i":-7,"none":null,"s":"blue \"x\"","u":18446744073709551615,"whole":2.0})");

  InferResponse resp = Response();
  resp.parameters_json = req->parameters_json;
  ModelInferResponse out;
  ASSERT_TRUE(EncodeInferResponse(std::move(resp), /*raw=*/false, &out).ok());
  const auto& echoed = out.parameters();
  ASSERT_EQ(echoed.size(), 7u);
  EXPECT_EQ(echoed.at("s").string_param(), "blue \"x\"");
  EXPECT_TRUE(echoed.at("b").bool_param());
  EXPECT_EQ(echoed.at("i").int64_param(), -7);
  EXPECT_EQ(echoed.at("u").uint64_param(), std::numeric_limits<uint64_t>::max());
  EXPECT_EQ(echoed.at("d").double_param(), 0.5);
  EXPECT_EQ(echoed.at("whole").parameter_choice_case(), inference::InferParameter::kDoubleParam);
  EXPECT_EQ(echoed.at("whole").double_param(), 2.0);
  EXPECT_EQ(echoed.at("none").parameter_choice_case(), inference::InferParameter::PARAMETER_CHOICE_NOT_SET);

  ModelInferRequest none;  // no parameters: none echoed
  auto plain = DecodeInferRequest(&none, {});
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain->parameters_json, "");
  ModelInferResponse bare;
  ASSERT_TRUE(EncodeInferResponse(Response(), /*raw=*/false, &bare).ok());
  EXPECT_TRUE(bare.parameters().empty());
}

// The answer's parameters come from the JSON object the request's were carried in; a value with no
// InferParameter form (REST accepts nested parameters) is refused by name, not dropped.
TEST(GrpcCodec, AnswerParametersWithoutAnInferParameterFormAreRefused) {
  for (auto [json, message] :
       {std::pair{R"({"a":1,"n":{"b":1}})",
                  "parameters.n: an object has no InferParameter form (bool, int64, "
                  "uint64, double or string)"},
        std::pair{R"({"l":[1]})",
                  "parameters.l: an array has no InferParameter form (bool, int64, uint64, "
                  "double or string)"},
        std::pair{"[1]", "parameters: expected a JSON object"}}) {
    InferResponse resp = Response();
    resp.parameters_json = json;
    ModelInferResponse out;
    Status st = EncodeInferResponse(std::move(resp), /*raw=*/false, &out);
    EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << json;
    EXPECT_EQ(st.message(), message);
  }
  // Duplicate keys (REST keeps the text as sent): the first wins, as REST reads them.
  ParameterMap dup;
  ASSERT_TRUE(ParametersFromJson(R"({"k":1,"k":"two"})", &dup).ok());
  EXPECT_EQ(dup.at("k").int64_param(), 1);
  // A uint64_param within INT64_MAX comes back as int64_param: JSON has one integer kind.
  ParameterMap small;
  small["u"].set_uint64_param(5);
  auto json = ParametersToJson(small, "parameters");
  ASSERT_TRUE(json.ok());
  ParameterMap back;
  ASSERT_TRUE(ParametersFromJson(*json, &back).ok());
  EXPECT_EQ(back.at("u").int64_param(), 5);
}

// What JSON cannot hold is refused by name, as REST refuses a body that is not JSON.
TEST(GrpcCodec, RequestParametersWithoutAJsonFormAreRefused) {
  ModelInferRequest nan;
  (*nan.mutable_parameters())["d"].set_double_param(std::numeric_limits<double>::quiet_NaN());
  EXPECT_EQ(Decode(nan).message(), "parameters.d: double_param nan is not a finite number");
  ModelInferRequest inf;
  (*inf.mutable_parameters())["d"].set_double_param(-std::numeric_limits<double>::infinity());
  EXPECT_EQ(Decode(inf).message(), "parameters.d: double_param -inf is not a finite number");
  ModelInferRequest text;
  (*text.mutable_parameters())["s"].set_string_param("\xff");
  EXPECT_EQ(Decode(text).message(), "parameters.s: string_param is not valid UTF-8");
  ModelInferRequest key;
  (*key.mutable_parameters())["\xc3"].set_bool_param(true);
  EXPECT_EQ(Decode(key).message(), "parameters: a key is not valid UTF-8");
}

// The parameters of extensions the node does not implement are refused on an input or a requested
// output with REST's own message; any other tensor parameter is ignored, as over REST.
TEST(GrpcCodec, TensorParametersAreRefusedAsOverRest) {
  auto rest_error = [](std::string_view body) { return v2::ParseInferRequest(body, std::nullopt).status(); };
  ModelInferRequest shm;
  auto* in = AddInput(shm, "x", "FP32", {0});
  (*in->mutable_parameters())["shared_memory_region"].set_string_param("r");
  (*in->mutable_parameters())["shared_memory_byte_size"].set_int64_param(64);
  Status rest = rest_error(R"({"inputs":[{"name":"x","datatype":"FP32","shape":[0],"data":[],)"
                           R"("parameters":{"shared_memory_region":"r","shared_memory_byte_size":64}}]})");
  ASSERT_FALSE(rest.ok());
  EXPECT_EQ(Decode(shm).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(Decode(shm).message(), rest.message());

  ModelInferRequest cls;
  auto* out = cls.add_outputs();
  out->set_name("y");
  (*out->mutable_parameters())["classification"].set_int64_param(3);
  rest = rest_error(R"({"inputs":[],"outputs":[{"name":"y","parameters":{"classification":3}}]})");
  ASSERT_FALSE(rest.ok());
  EXPECT_EQ(Decode(cls).message(), rest.message());
  EXPECT_EQ(
      Decode(cls).message(),
      "outputs[0].parameters.classification: the classification extension is not supported; request the "
      "tensor itself");

  ModelInferRequest other;  // unknown tensor parameters are ignored
  (*AddInput(other, "x", "FP32", {0})->mutable_parameters())["custom"].set_string_param("c");
  auto* o = other.add_outputs();
  o->set_name("y");
  (*o->mutable_parameters())["binary_data"].set_bool_param(true);
  EXPECT_TRUE(Decode(other).ok());
}

TEST(GrpcStatusMap, OneMappingWithTheSameMessage) {
  EXPECT_EQ(GrpcCodeFor(StatusCode::kInvalidArgument), ::grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(GrpcCodeFor(StatusCode::kNotFound), ::grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(GrpcCodeFor(StatusCode::kUnavailable), ::grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(GrpcCodeFor(StatusCode::kResourceExhausted), ::grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(GrpcCodeFor(StatusCode::kPayloadTooLarge), ::grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(GrpcCodeFor(StatusCode::kDeadlineExceeded), ::grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_EQ(GrpcCodeFor(StatusCode::kFailedPrecondition), ::grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(GrpcCodeFor(StatusCode::kAlreadyExists), ::grpc::StatusCode::ALREADY_EXISTS);
  EXPECT_EQ(GrpcCodeFor(StatusCode::kUnimplemented), ::grpc::StatusCode::UNIMPLEMENTED);
  EXPECT_EQ(GrpcCodeFor(StatusCode::kInternal), ::grpc::StatusCode::INTERNAL);
  EXPECT_EQ(GrpcCodeFor(StatusCode::kCancelled), ::grpc::StatusCode::CANCELLED);
  EXPECT_EQ(GrpcCodeFor(StatusCode::kAborted), ::grpc::StatusCode::ABORTED);
  ::grpc::Status s = ToGrpcStatus(NotFound("unknown model 'x'"));
  EXPECT_EQ(s.error_code(), ::grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(s.error_message(), "unknown model 'x'");
  EXPECT_TRUE(ToGrpcStatus(Status::Ok()).ok());
}

}  // namespace
}  // namespace continuum::grpc_api
