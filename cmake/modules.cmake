# kw_module(NAME name DEPS libs...)
# Builds the module in the current directory: every *.cpp but *_test.cpp and main.cpp
# becomes the static library kw_<name>; every *_test.cpp becomes one GoogleTest binary
# kw_<name>_test registered with CTest. Sources are globbed with CONFIGURE_DEPENDS so a
# new file needs no CMake edit; a module is one folder and one call.
function(kw_module)
  cmake_parse_arguments(M "" "NAME" "DEPS;TEST_DEPS" ${ARGN})
  file(GLOB _all CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/*.cpp
       ${CMAKE_CURRENT_SOURCE_DIR}/detail/*.cpp)
  set(_src)
  set(_tests)
  foreach(f ${_all})
    get_filename_component(_n ${f} NAME)
    if(_n MATCHES "_test\\.cpp$")
      list(APPEND _tests ${f})
    elseif(NOT _n STREQUAL "main.cpp")
      list(APPEND _src ${f})
    endif()
  endforeach()
  if(_src)
    add_library(kw_${M_NAME} STATIC ${_src})
    target_include_directories(kw_${M_NAME} PUBLIC ${PROJECT_SOURCE_DIR}/src)
    target_link_libraries(kw_${M_NAME} PUBLIC ${M_DEPS})
  else()
    add_library(kw_${M_NAME} INTERFACE)
    target_include_directories(kw_${M_NAME} INTERFACE ${PROJECT_SOURCE_DIR}/src)
    target_link_libraries(kw_${M_NAME} INTERFACE ${M_DEPS})
  endif()
  if(KW_BUILD_TESTS AND _tests)
    add_executable(kw_${M_NAME}_test ${_tests})
    target_link_libraries(kw_${M_NAME}_test PRIVATE kw_${M_NAME} ${M_TEST_DEPS} GTest::gtest
                          GTest::gtest_main GTest::gmock)
    target_compile_definitions(kw_${M_NAME}_test PRIVATE
                               KW_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
    set_target_properties(kw_${M_NAME}_test PROPERTIES RUNTIME_OUTPUT_DIRECTORY
                          ${CMAKE_BINARY_DIR}/tests)
    add_test(NAME unit.${M_NAME} COMMAND kw_${M_NAME}_test)
  endif()
endfunction()

# kw_fuzzer(NAME name SOURCES files... DEPS libs...)
# Every fuzz target defines LLVMFuzzerTestOneInput. Always built as a replay binary
# (fuzz/replay_main.cpp) that runs each file of fuzz/corpus/<name>/ once, registered
# with CTest, so the corpus runs in every test run under GCC. With -DKW_FUZZ=ON and
# clang, also built as a real libFuzzer binary <name>_fuzzer.
function(kw_fuzzer)
  cmake_parse_arguments(F "" "NAME" "SOURCES;DEPS" ${ARGN})
  add_executable(fuzz_${F_NAME}_replay ${F_SOURCES} ${PROJECT_SOURCE_DIR}/fuzz/replay_main.cpp)
  target_link_libraries(fuzz_${F_NAME}_replay PRIVATE ${F_DEPS})
  set_target_properties(fuzz_${F_NAME}_replay PROPERTIES RUNTIME_OUTPUT_DIRECTORY
                        ${CMAKE_BINARY_DIR}/fuzz)
  if(KW_BUILD_TESTS)
    add_test(NAME fuzz.${F_NAME}
             COMMAND fuzz_${F_NAME}_replay ${PROJECT_SOURCE_DIR}/fuzz/corpus/${F_NAME})
  endif()
  if(KW_FUZZ)
    add_executable(${F_NAME}_fuzzer ${F_SOURCES})
    target_compile_options(${F_NAME}_fuzzer PRIVATE -fsanitize=fuzzer,address,undefined)
    target_link_options(${F_NAME}_fuzzer PRIVATE -fsanitize=fuzzer,address,undefined)
    target_link_libraries(${F_NAME}_fuzzer PRIVATE ${F_DEPS})
  endif()
endfunction()
