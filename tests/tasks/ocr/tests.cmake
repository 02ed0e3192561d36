# Included from src/tasks/ocr/CMakeLists.txt (the task's targets live there).
# ocr_accuracy_test: lines of known text rendered with ImageMagick in DejaVu fonts (sizes 18-48 px,
# PNG and JPEG, a few multi-line pages) read through the real PP-OCRv4 models in process; reports
# exact-line accuracy and character error rate, and fails below 90% exact lines.
add_executable(ocr_eval ${CMAKE_SOURCE_DIR}/tests/tasks/ocr/ocr_eval.cc)
target_link_libraries(ocr_eval PRIVATE continuum_ocr_harness)

add_test(NAME ocr_accuracy_test
         COMMAND /usr/bin/python3 ${CMAKE_SOURCE_DIR}/tests/tasks/ocr/accuracy_test.py
                 --eval $<TARGET_FILE:ocr_eval> --work ${CMAKE_BINARY_DIR}/ocr_accuracy_test --min-exact 0.90)
set_tests_properties(ocr_accuracy_test PROPERTIES LABELS tasks TIMEOUT 180 SKIP_RETURN_CODE 77)
