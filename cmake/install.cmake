# Installation and packaging (included at the end of CMakeLists.txt).
#
#   cmake --install build [--prefix DIR]   library, headers, ockam.pc, the CMake
#                                          package (find_package(ockam)), the
#                                          ockam command, man pages, systemd unit
#   cpack --config build/CPackConfig.cmake a .deb (prefix /usr)
include(GNUInstallDirs)
# Packaging installs what the build made; it does not rebuild everything first.
set(CMAKE_SKIP_INSTALL_ALL_DEPENDENCY ON)

option(OCKAM_MAN "Generate the man pages with help2man" ON)

# The ockam command links libockam statically; a program that links
# libockam.so installed next to it finds it through this RPATH, and through
# ldconfig once installed under a system prefix (the .deb runs it).
set_target_properties(ockam PROPERTIES INSTALL_RPATH "$ORIGIN/../${CMAKE_INSTALL_LIBDIR}")

# ---- library, headers ---------------------------------------------------------
set_target_properties(ockam_shared PROPERTIES EXPORT_NAME ockam)
set_target_properties(ockam_static PROPERTIES EXPORT_NAME ockam_static)
install(TARGETS ockam_shared ockam_static EXPORT ockamTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
# pkg-config --static: explicit -L directories are searched before the
# linker's default ones, and pkg-config drops -L of system directories, so
# the archive in ockam/static is what -lockam finds in a static link of a
# system-wide install, and libockam.so otherwise (docs/RATIONALE.md).
install(CODE "
  set(dir \"\$ENV{DESTDIR}\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_LIBDIR}/ockam/static\")
  file(MAKE_DIRECTORY \"\${dir}\")
  file(CREATE_LINK ../../libockam.a \"\${dir}/libockam.a\" SYMBOLIC)
")
install(DIRECTORY include/ockam ${OCKAM_GENERATED_INCLUDE}/ockam
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})

# ---- pkg-config ---------------------------------------------------------------
set(OCKAM_PC_NATS "")
if(OCKAM_JETSTREAM)
  set(OCKAM_PC_NATS "libnats")
endif()
# The prefix is the one the install runs with (the .deb's is /usr): the file
# is configured here, then again at install time for the prefix.
set(OCKAM_PC_PREFIX "@OCKAM_PC_PREFIX@")
configure_file(cmake/ockam.pc.in ${CMAKE_BINARY_DIR}/packaging/ockam.pc.in @ONLY)
install(CODE "
  set(OCKAM_PC_PREFIX \"\${CMAKE_INSTALL_PREFIX}\")
  configure_file(\"${CMAKE_BINARY_DIR}/packaging/ockam.pc.in\"
                 \"${CMAKE_BINARY_DIR}/packaging/ockam.pc\" @ONLY)
  file(INSTALL \"${CMAKE_BINARY_DIR}/packaging/ockam.pc\"
       DESTINATION \"\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_LIBDIR}/pkgconfig\")
")

# ---- CMake package: find_package(ockam) -> ockam::ockam, ockam::ockam_static ----
include(CMakePackageConfigHelpers)
set(OCKAM_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/ockam)
install(EXPORT ockamTargets NAMESPACE ockam:: DESTINATION ${OCKAM_CMAKE_DIR})
configure_package_config_file(cmake/ockamConfig.cmake.in
                              ${CMAKE_BINARY_DIR}/ockamConfig.cmake
                              INSTALL_DESTINATION ${OCKAM_CMAKE_DIR})
write_basic_package_version_file(${CMAKE_BINARY_DIR}/ockamConfigVersion.cmake
                                 VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_BINARY_DIR}/ockamConfig.cmake ${CMAKE_BINARY_DIR}/ockamConfigVersion.cmake
        DESTINATION ${OCKAM_CMAKE_DIR})

# ---- the command, its man pages, the hub's service -----------------------------
install(TARGETS ockam RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
if(OCKAM_MAN)
  find_program(HELP2MAN help2man REQUIRED)
  set(man_dir ${CMAKE_BINARY_DIR}/man)
  add_custom_command(
    OUTPUT ${man_dir}/ockam.1
    COMMAND ${CMAKE_COMMAND} -E make_directory ${man_dir}
    COMMAND ${HELP2MAN} --no-info --section 1 --name "Ockam nodes, secure channels and hub streams"
            --include ${CMAKE_SOURCE_DIR}/packaging/ockam.h2m --output ${man_dir}/ockam.1
            $<TARGET_FILE:ockam>
    DEPENDS ockam ${CMAKE_SOURCE_DIR}/packaging/ockam.h2m
    COMMENT "man page ockam(1)")
  # help2man runs "PROGRAM OPTION" through the shell: "hub --help".
  add_custom_command(
    OUTPUT ${man_dir}/ockam-hub.8
    COMMAND ${CMAKE_COMMAND} -E make_directory ${man_dir}
    COMMAND ${HELP2MAN} --no-info --section 8 --help-option "hub --help"
            --version-option --version --include ${CMAKE_SOURCE_DIR}/packaging/ockam-hub.h2m
            --output ${man_dir}/ockam-hub.8.tmp $<TARGET_FILE:ockam>
    # The page is named after the command "ockam hub", not the program.
    COMMAND sed -e "s/^\\.TH OCKAM /.TH OCKAM-HUB /" ${man_dir}/ockam-hub.8.tmp > ${man_dir}/ockam-hub.8
    DEPENDS ockam ${CMAKE_SOURCE_DIR}/packaging/ockam-hub.h2m
    COMMENT "man page ockam-hub(8)")
  add_custom_target(man ALL DEPENDS ${man_dir}/ockam.1 ${man_dir}/ockam-hub.8)
  install(FILES ${man_dir}/ockam.1 DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
  install(FILES ${man_dir}/ockam-hub.8 DESTINATION ${CMAKE_INSTALL_MANDIR}/man8)
endif()
# The service unit and the configuration, placed by the prefix the install
# runs with (the .deb's is /usr, so /etc; others get PREFIX/etc).
install(CODE "
  set(prefix \"\${CMAKE_INSTALL_PREFIX}\")
  if(prefix STREQUAL \"/usr\")
    set(etc /etc)
  else()
    set(etc \"\${prefix}/etc\")
  endif()
  set(OCKAM_BIN \"\${prefix}/${CMAKE_INSTALL_BINDIR}/ockam\")
  set(OCKAM_CONFIG \"\${etc}/ockam/hub.ini\")
  configure_file(\"${CMAKE_SOURCE_DIR}/packaging/ockam-hub.service.in\"
                 \"${CMAKE_BINARY_DIR}/packaging/ockam-hub.service\" @ONLY)
  file(INSTALL \"${CMAKE_BINARY_DIR}/packaging/ockam-hub.service\"
       DESTINATION \"\${prefix}/lib/systemd/system\")
  file(INSTALL \"${CMAKE_SOURCE_DIR}/packaging/hub.ini\" DESTINATION \"\${etc}/ockam\")
")
install(FILES packaging/hub.ini DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples)

# ---- CPack: a .deb -------------------------------------------------------------
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME ockam)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "ockam-c maintainers <ockam-c@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "Ockam nodes, secure channels and a store-and-forward hub, in C")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_INSTALL_PREFIX /usr)
set(CPACK_SET_DESTDIR ON) # /etc/ockam/hub.ini is outside the prefix
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_COMPRESSION_TYPE gzip)
set(CPACK_PACKAGE_DIRECTORY ${CMAKE_BINARY_DIR}/package)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON) # Depends from the binaries' libraries
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS ON) # shlibs + the ldconfig trigger
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA ${CMAKE_SOURCE_DIR}/packaging/debian/conffiles)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
include(CPack)
