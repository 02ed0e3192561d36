# Imports the ONNX Runtime unpacked by tools/setup.sh into third_party/onnxruntime.
set(ORT_ROOT ${CMAKE_SOURCE_DIR}/third_party/onnxruntime)
if(NOT EXISTS ${ORT_ROOT}/.complete)
  message(FATAL_ERROR "ONNX Runtime missing: run tools/setup.sh (make does this for you)")
endif()
add_library(onnxruntime SHARED IMPORTED GLOBAL)
set_target_properties(onnxruntime PROPERTIES
  IMPORTED_LOCATION ${ORT_ROOT}/lib/libonnxruntime.so.1
  IMPORTED_SONAME libonnxruntime.so.1
  INTERFACE_INCLUDE_DIRECTORIES ${ORT_ROOT}/include)
# Installed binaries find the library next to them or in the unpack folder.
set(CMAKE_BUILD_RPATH ${ORT_ROOT}/lib)
