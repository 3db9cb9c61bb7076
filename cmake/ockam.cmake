# ockam_layer(NAME SOURCES ... DEPENDS layer ... LIBS lib ...)
# One object library per source folder. Its own folder and the folders of the
# layers it DEPENDS on are on its include path; nothing else is.
function(ockam_layer name)
  cmake_parse_arguments(L "" "" "SOURCES;DEPENDS;LIBS" ${ARGN})
  add_library(${name} OBJECT ${L_SOURCES})
  target_include_directories(${name} PUBLIC ${CMAKE_SOURCE_DIR}/include ${CMAKE_CURRENT_SOURCE_DIR})
  foreach(dep ${L_DEPENDS})
    target_link_libraries(${name} PUBLIC ${dep})
  endforeach()
  foreach(lib ${L_LIBS})
    target_link_libraries(${name} PUBLIC ${lib})
  endforeach()
endfunction()

# ockam_unit_test(NAME SOURCES ... ) : a cmocka test linked against the static library.
function(ockam_unit_test name)
  cmake_parse_arguments(T "" "TIMEOUT" "SOURCES;INCLUDES;LIBS" ${ARGN})
  if(NOT OCKAM_TESTS)
    return()
  endif()
  add_executable(${name} ${T_SOURCES})
  set_target_properties(${name} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
  # Unit tests may look inside every layer.
  target_include_directories(${name} PRIVATE ${CMAKE_SOURCE_DIR}/src ${CMAKE_CURRENT_SOURCE_DIR}
    ${CMAKE_SOURCE_DIR}/src/core ${CMAKE_SOURCE_DIR}/src/codec ${CMAKE_SOURCE_DIR}/src/vault ${CMAKE_SOURCE_DIR}/src/identity
    ${CMAKE_SOURCE_DIR}/src/transport ${CMAKE_SOURCE_DIR}/src/channel
    ${CMAKE_SOURCE_DIR}/src/storage ${CMAKE_SOURCE_DIR}/src/stream ${CMAKE_SOURCE_DIR}/src/hub
    ${CMAKE_SOURCE_DIR}/tests/include ${T_INCLUDES})
  target_link_libraries(${name} PRIVATE ockam_static PkgConfig::CMOCKA ${T_LIBS})
  target_compile_definitions(${name} PRIVATE OCKAM_VECTORS_DIR="${CMAKE_SOURCE_DIR}/tests/vectors")
  add_test(NAME ${name} COMMAND ${name})
  set_tests_properties(${name} PROPERTIES ENVIRONMENT "OCKAM_TEST_VECTORS=${CMAKE_SOURCE_DIR}/tests/vectors")
  if(T_TIMEOUT)
    set_tests_properties(${name} PROPERTIES TIMEOUT ${T_TIMEOUT})
  else()
    set_tests_properties(${name} PROPERTIES TIMEOUT 120)
  endif()
endfunction()
