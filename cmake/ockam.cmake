include(${CMAKE_CURRENT_LIST_DIR}/layers.cmake)

# ockam_layer(ockam_<layer> SOURCES ... LIBS lib ...)
# One object library per source folder; what it may use is declared in
# cmake/layers.cmake. Its include path holds its own folder, the public
# headers it owns, and (through the link to each layer below) their folders
# and headers; nothing else, so an upward include fails to build.
function(ockam_layer name)
  cmake_parse_arguments(L "" "" "SOURCES;LIBS" ${ARGN})
  if(L_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "ockam_layer(${name}): unexpected ${L_UNPARSED_ARGUMENTS} "
                        "(dependencies are declared in cmake/layers.cmake)")
  endif()
  string(REGEX REPLACE "^ockam_" "" layer ${name})
  if(NOT layer IN_LIST OCKAM_LAYERS)
    message(FATAL_ERROR "ockam_layer(${name}): add layer '${layer}' to cmake/layers.cmake")
  endif()
  # Links to the public headers this layer owns, rebuilt at every configure.
  set(inc ${CMAKE_BINARY_DIR}/layers/${layer}/include)
  file(REMOVE_RECURSE ${inc})
  file(MAKE_DIRECTORY ${inc}/ockam)
  foreach(h ${OCKAM_LAYER_${layer}_HEADERS})
    file(CREATE_LINK ${CMAKE_SOURCE_DIR}/include/ockam/${h} ${inc}/ockam/${h} SYMBOLIC)
  endforeach()
  add_library(${name} OBJECT ${L_SOURCES})
  target_include_directories(${name} PUBLIC ${inc} ${CMAKE_CURRENT_SOURCE_DIR})
  foreach(dep ${OCKAM_LAYER_${layer}_DEPENDS})
    target_link_libraries(${name} PUBLIC ockam_${dep})
  endforeach()
  foreach(lib ${L_LIBS})
    target_link_libraries(${name} PUBLIC ${lib})
  endforeach()
endfunction()

# ockam_unit_test(NAME SOURCES ... ) : a cmocka test linked against the static
# library and the shared test support (tests/support, tests/include).
function(ockam_unit_test name)
  cmake_parse_arguments(T "" "TIMEOUT" "SOURCES;INCLUDES;LIBS" ${ARGN})
  if(NOT OCKAM_TESTS)
    return()
  endif()
  add_executable(${name} ${T_SOURCES})
  set_target_properties(${name} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
  # Unit tests may look inside every layer.
  set(layer_dirs)
  foreach(l ${OCKAM_LAYERS})
    list(APPEND layer_dirs ${CMAKE_SOURCE_DIR}/src/${l})
  endforeach()
  target_include_directories(${name} PRIVATE ${CMAKE_SOURCE_DIR}/src ${CMAKE_CURRENT_SOURCE_DIR}
    ${layer_dirs} ${CMAKE_SOURCE_DIR}/tests/include ${T_INCLUDES})
  target_link_libraries(${name} PRIVATE ockam_test_support ockam_static PkgConfig::CMOCKA ${T_LIBS})
  target_compile_definitions(${name} PRIVATE OCKAM_VECTORS_DIR="${CMAKE_SOURCE_DIR}/tests/vectors")
  add_test(NAME ${name} COMMAND ${name})
  # Label "unit": one process, no hub binary (scripts/valgrind runs these).
  set_tests_properties(${name} PROPERTIES LABELS unit
                       ENVIRONMENT "OCKAM_TEST_VECTORS=${CMAKE_SOURCE_DIR}/tests/vectors")
  if(T_TIMEOUT)
    set_tests_properties(${name} PROPERTIES TIMEOUT ${T_TIMEOUT})
  else()
    set_tests_properties(${name} PROPERTIES TIMEOUT 120)
  endif()
endfunction()
