# Included from src/tasks/vad/CMakeLists.txt (the task's targets live there).
# vad_edge_test: speech made with espeak-ng, framed by known silences with sox, in several rates,
# sample formats and channel layouts; 90% of the speech edges must be within ±100 ms and all
# within ±150 ms (see edge_test.py). Skipped (77) without espeak-ng or sox.
add_executable(vad_eval ${CMAKE_SOURCE_DIR}/tests/tasks/vad/vad_eval.cc)
target_link_libraries(vad_eval PRIVATE continuum_tasks continuum_runtime)

add_test(NAME vad_edge_test
         COMMAND /usr/bin/python3 ${CMAKE_SOURCE_DIR}/tests/tasks/vad/edge_test.py
                 --eval $<TARGET_FILE:vad_eval> --work ${CMAKE_BINARY_DIR}/vad_edge_test)
set_tests_properties(vad_edge_test PROPERTIES LABELS tasks TIMEOUT 180 SKIP_RETURN_CODE 77)
