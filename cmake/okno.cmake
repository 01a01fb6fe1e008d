# Helpers shared by every CMakeLists.txt in the tree.

# Per-test timeouts are multiplied by OKNO_TEST_TIMEOUT_MULTIPLIER (slow machines, sanitizers).
set(OKNO_TEST_TIMEOUT_MULTIPLIER 1 CACHE STRING "Multiplier applied to every test timeout")
if(OKNO_SANITIZE)
  set(OKNO_TEST_TIMEOUT_MULTIPLIER 4 CACHE STRING "" FORCE)
endif()

# okno_add_unit_test(NAME SOURCES... [TIMEOUT seconds] [LABELS labels...])
# A cmocka test executable linked against okno_common and the internal interface.
function(okno_add_unit_test name)
  cmake_parse_arguments(T "" "TIMEOUT" "SOURCES;LABELS" ${ARGN})
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 60)
  endif()
  if(NOT T_LABELS)
    set(T_LABELS unit)
  endif()
  add_executable(${name} ${T_SOURCES})
  target_link_libraries(${name} PRIVATE okno_common okno_internal PkgConfig::CMOCKA)
  add_test(NAME ${name} COMMAND ${name})
  math(EXPR _t "${T_TIMEOUT} * ${OKNO_TEST_TIMEOUT_MULTIPLIER}")
  set_tests_properties(${name} PROPERTIES TIMEOUT ${_t} LABELS "${T_LABELS}"
    ENVIRONMENT "OKNO_SOURCE_DIR=${PROJECT_SOURCE_DIR};OKNO_BUILD_DIR=${PROJECT_BINARY_DIR}")
endfunction()

# okno_add_subdirectories(): adds every subdirectory of the current one that has a
# CMakeLists.txt (one per service, tool or test group), so a new one needs no edit here.
function(okno_add_subdirectories)
  file(GLOB _dirs LIST_DIRECTORIES true CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/*)
  foreach(_d ${_dirs})
    if(IS_DIRECTORY ${_d} AND EXISTS ${_d}/CMakeLists.txt)
      add_subdirectory(${_d})
    endif()
  endforeach()
endfunction()
