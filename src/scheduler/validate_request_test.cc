// ValidateRequest: a request checked against the model's signature before it is queued.
#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <utility>

#include "scheduler/scheduler.h"
#include "scheduler/test_util.h"

namespace continuum {
namespace {

using namespace scheduler_test;  // NOLINT

void ExpectInvalid(const runtime::ModelSignature& sig, int64_t max_batch, InferRequest r,
                   std::string_view needle, int64_t max_elements = 1 << 26) {
  Status st = ValidateRequest(sig, max_batch, max_elements, &r);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << st.ToString();
  EXPECT_NE(st.message().find(needle), std::string::npos)
      << "message '" << st.message() << "' should contain '" << needle << "'";
}

TEST(ValidateRequest, AcceptsAndReordersIntoSignatureOrder) {
  InferRequest r = AddSubRequest(2, 0);
  std::swap(r.inputs[0], r.inputs[1]);
  r.outputs = {{"OUTPUT1", true}};
  ASSERT_TRUE(ValidateRequest(AddSubSig(), 8, 1 << 26, &r).ok());
  ASSERT_EQ(r.inputs.size(), 2u);
  EXPECT_EQ(r.inputs[0].name, "INPUT0");
  EXPECT_EQ(r.inputs[1].name, "INPUT1");
  EXPECT_EQ(Floats(r.inputs[0])[3], 3.0f);  // the data moved with the name
  EXPECT_EQ(Floats(r.inputs[1])[3], 0.5f);
}

TEST(ValidateRequest, UnknownInput) {
  InferRequest r = AddSubRequest(1, 0);
  r.inputs[1].name = "INPUT7";
  ExpectInvalid(AddSubSig(), 8, r, "unknown input 'INPUT7'");
  ExpectInvalid(AddSubSig(), 8, r, "INPUT0, INPUT1");  // lists what the model has
}

TEST(ValidateRequest, MissingInput) {
  InferRequest r = AddSubRequest(1, 0);
  r.inputs.pop_back();
  ExpectInvalid(AddSubSig(), 8, r, "missing input 'INPUT1'");
  r.inputs.clear();
  ExpectInvalid(AddSubSig(), 8, r, "missing input 'INPUT0'");
}

TEST(ValidateRequest, DuplicateInput) {
  InferRequest r = AddSubRequest(1, 0);
  r.inputs[1].name = "INPUT0";
  ExpectInvalid(AddSubSig(), 8, r, "'INPUT0' is given more than once");
}

TEST(ValidateRequest, WrongDatatype) {
  InferRequest r = AddSubRequest(1, 0);
  r.inputs[1].dtype = DataType::kInt32;  // same byte size: only the dtype is wrong
  ExpectInvalid(AddSubSig(), 8, r, "input 'INPUT1': datatype INT32 does not match the model's FP32");
}

TEST(ValidateRequest, WrongRank) {
  InferRequest r = AddSubRequest(1, 0);
  r.inputs[0].shape = {16};
  ExpectInvalid(AddSubSig(), 8, r, "rank 1");
  r.inputs[0].shape = {1, 1, 16};
  ExpectInvalid(AddSubSig(), 8, r, "input 'INPUT0'");
}

TEST(ValidateRequest, WrongFixedDimension) {
  InferRequest r;
  r.inputs.push_back(FloatTensor("INPUT0", {2, 8}, Iota(16, 0)));
  r.inputs.push_back(FloatTensor("INPUT1", {2, 8}, Iota(16, 0)));
  ExpectInvalid(AddSubSig(), 8, r, "at dimension 1");

  runtime::ModelSignature fixed{{Spec("x", DataType::kFp32, {1, 3, 4, 4})},
                                {Spec("y", DataType::kFp32, {1, 3, 4, 4})}};
  InferRequest f;
  f.inputs.push_back(FloatTensor("x", {2, 3, 4, 4}, Iota(96, 0)));
  ExpectInvalid(fixed, 0, f, "at dimension 0");
  f.inputs[0] = FloatTensor("x", {1, 3, 4, 4}, Iota(48, 0));
  EXPECT_TRUE(ValidateRequest(fixed, 0, 1 << 26, &f).ok());
}

TEST(ValidateRequest, BatchSizeLimits) {
  ExpectInvalid(AddSubSig(), 4, AddSubRequest(5, 0), "batch size 5");
  ExpectInvalid(AddSubSig(), 4, AddSubRequest(5, 0), "max_batch_size 4");
  ExpectInvalid(AddSubSig(), 4, AddSubRequest(0, 0), "batch size 0");
  InferRequest ok = AddSubRequest(4, 0);
  EXPECT_TRUE(ValidateRequest(AddSubSig(), 4, 1 << 26, &ok).ok());
  // Without batching, dimension 0 is an ordinary dynamic dimension.
  InferRequest big = AddSubRequest(5, 0);
  EXPECT_TRUE(ValidateRequest(AddSubSig(), 0, 1 << 26, &big).ok());
}

TEST(ValidateRequest, BatchMismatchAcrossInputs) {
  InferRequest r = AddSubRequest(2, 0);
  r.inputs[1] = FloatTensor("INPUT1", {3, 16}, Iota(48, 0));
  ExpectInvalid(AddSubSig(), 8, r, "disagree on the batch size");
  // Not batchable: the dynamic first dimensions may differ (the graph decides).
  InferRequest nb = r;
  EXPECT_TRUE(ValidateRequest(AddSubSig(), 0, 1 << 26, &nb).ok());
}

TEST(ValidateRequest, RequestedOutputs) {
  InferRequest r = AddSubRequest(1, 0);
  r.outputs = {{"OUTPUT9", false}};
  ExpectInvalid(AddSubSig(), 8, r, "unknown output 'OUTPUT9'");
  r.outputs = {{"OUTPUT0", false}, {"OUTPUT1", false}, {"OUTPUT0", true}};
  ExpectInvalid(AddSubSig(), 8, r, "output 'OUTPUT0' is requested more than once");
  r.outputs = {{"OUTPUT1", true}, {"OUTPUT0", false}};
  EXPECT_TRUE(ValidateRequest(AddSubSig(), 8, 1 << 26, &r).ok());
  EXPECT_EQ(r.outputs[0].name, "OUTPUT1");  // the requested order is kept
}

TEST(ValidateRequest, TooManyElements) {
  ExpectInvalid(AddSubSig(), 8, AddSubRequest(2, 0), "more than 31 elements", 31);
  InferRequest r = AddSubRequest(2, 0);
  EXPECT_TRUE(ValidateRequest(AddSubSig(), 8, 32, &r).ok());
  // Overflowing products do not wrap around.
  runtime::ModelSignature dyn{{Spec("x", DataType::kFp32, {-1, -1, -1})},
                              {Spec("y", DataType::kFp32, {-1, -1, -1})}};
  InferRequest huge;
  huge.inputs.push_back({"x", DataType::kFp32, {INT64_C(1) << 40, INT64_C(1) << 40, 4}, ""});
  ExpectInvalid(dyn, 0, huge, "input 'x'");
  InferRequest negative;
  negative.inputs.push_back({"x", DataType::kFp32, {1, -2, 4}, ""});
  ExpectInvalid(dyn, 0, negative, "negative");
}

TEST(ValidateRequest, DataLengthMismatch) {
  InferRequest r = AddSubRequest(1, 0);
  r.inputs[0].data.pop_back();
  ExpectInvalid(AddSubSig(), 8, r, "63 bytes of data");
  ExpectInvalid(AddSubSig(), 8, r, "input 'INPUT0'");

  runtime::ModelSignature str{{Spec("s", DataType::kBytes, {-1, 2})}, {Spec("o", DataType::kBytes, {-1, 2})}};
  InferRequest b;
  Tensor t{"s", DataType::kBytes, {1, 2}, ""};
  AppendBytesElement(t.data, "only one");
  b.inputs.push_back(t);
  ExpectInvalid(str, 8, b, "input 's'");
  AppendBytesElement(b.inputs[0].data, "two");
  EXPECT_TRUE(ValidateRequest(str, 8, 1 << 26, &b).ok());
  b.inputs[0].data += "\x05";  // a truncated length prefix
  ExpectInvalid(str, 8, b, "input 's'");
}

// =============================================================================================
// Scheduler with real models

}  // namespace
}  // namespace continuum
