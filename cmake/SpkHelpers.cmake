# Shared build helpers: warning flags, sanitizers, and the test macro.

add_library(spk_build_flags INTERFACE)
add_library(spk::build_flags ALIAS spk_build_flags)
target_compile_options(spk_build_flags INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wold-style-cast
  -Wcast-align -Woverloaded-virtual -Wimplicit-fallthrough
  -Wno-missing-field-initializers)
if(SPK_WERROR)
  target_compile_options(spk_build_flags INTERFACE -Werror)
endif()
if(SPK_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer
                      -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
endif()

# spk_cc_library(NAME name [ALIAS spk::x] SRCS ... [HDRS ...] [DEPS ...] [PRIVATE_DEPS ...])
function(spk_cc_library)
  cmake_parse_arguments(A "" "NAME;ALIAS" "SRCS;DEPS;PRIVATE_DEPS" ${ARGN})
  add_library(${A_NAME} STATIC ${A_SRCS})
  target_include_directories(${A_NAME} PUBLIC ${PROJECT_SOURCE_DIR})
  target_link_libraries(${A_NAME} PUBLIC ${A_DEPS} PRIVATE spk::build_flags ${A_PRIVATE_DEPS})
  if(A_ALIAS)
    add_library(${A_ALIAS} ALIAS ${A_NAME})
  endif()
endfunction()

# spk_cc_test(NAME name SRCS ... DEPS ... [LABELS ...] [ENV ...] [TIMEOUT s])
# A GoogleTest binary registered with CTest; unit tests sit beside their code.
function(spk_cc_test)
  if(NOT SPK_BUILD_TESTS)
    return()
  endif()
  cmake_parse_arguments(A "" "NAME;TIMEOUT" "SRCS;DEPS;LABELS;ENV" ${ARGN})
  add_executable(${A_NAME} ${A_SRCS})
  target_link_libraries(${A_NAME} PRIVATE ${A_DEPS} GTest::gtest GTest::gmock GTest::gtest_main
                        spk::build_flags)
  target_compile_definitions(${A_NAME} PRIVATE
    SPK_SOURCE_DIR="${PROJECT_SOURCE_DIR}" SPK_FIXTURE_DIR="${SPK_FIXTURE_DIR}"
    SPK_BINARY_DIR="${PROJECT_BINARY_DIR}")
  add_test(NAME ${A_NAME} COMMAND ${A_NAME})
  if(NOT A_TIMEOUT)
    set(A_TIMEOUT 300)
  endif()
  set_tests_properties(${A_NAME} PROPERTIES TIMEOUT ${A_TIMEOUT} LABELS "${A_LABELS};all")
  if(A_ENV)
    set_tests_properties(${A_NAME} PROPERTIES ENVIRONMENT "${A_ENV}")
  endif()
endfunction()
