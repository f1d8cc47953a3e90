# What `cmake --install build --prefix P` puts under P, for outside programs:
#   lib/libshoprpc.{so.0.1.0,a}  base + rpc + the protos the RPC library carries
#   lib/libshopmq.{so.0.1.0,a}   mq client + delay client + their protos (needs shoprpc)
#   include/shopflow/{base,rpc,mq}/*.h   public headers at their repository paths
#   include/shopflow/gen/*.pb-c.h        protoc-c headers of the protos inside the libraries
#   lib/pkgconfig/{shoprpc,shopmq}.pc, lib/cmake/shopflow/ (find_package(shopflow CONFIG))
#   bin/: protoc-gen-shoprpc, the daemons, shopflow; share/shopflow/sql/<svc>/
# The public libraries are compiled a second time, position-independent, from
# the sources of the internal static libraries: the in-tree build is untouched.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(SHOP_INSTALL_INCLUDEDIR ${CMAKE_INSTALL_INCLUDEDIR}/shopflow)
set(SHOP_INSTALL_CMAKEDIR ${CMAKE_INSTALL_LIBDIR}/cmake/shopflow)

# The absolute paths of the sources of the internal libraries in ARGN.
function(shop_target_sources out)
  set(all)
  foreach(target ${ARGN})
    get_target_property(sources ${target} SOURCES)
    get_target_property(dir ${target} SOURCE_DIR)
    foreach(source ${sources})
      if(NOT IS_ABSOLUTE ${source})
        set(source ${dir}/${source})
      endif()
      list(APPEND all ${source})
    endforeach()
  endforeach()
  set(${out} ${all} PARENT_SCOPE)
endfunction()

# shop_public_library(NAME FROM <internal libs> PROTOS <proto names>
#                     PUBLIC <link> PRIVATE <link>): libNAME.so and libNAME.a,
# targets NAME_shared and NAME_static, exported as shopflow::NAME and
# shopflow::NAME_static.
function(shop_public_library name)
  cmake_parse_arguments(arg "" "" "FROM;PROTOS;PUBLIC;PRIVATE" ${ARGN})
  shop_target_sources(sources ${arg_FROM})
  foreach(proto ${arg_PROTOS})
    list(APPEND sources ${SHOP_PROTO_GEN_DIR}/${proto}.pb-c.c)
    # Generated code is not ours to make warning-free under -Wextra.
    set_source_files_properties(${SHOP_PROTO_GEN_DIR}/${proto}.pb-c.c PROPERTIES
                                COMPILE_OPTIONS -Wno-unused-parameter)
  endforeach()
  add_library(${name}_objects OBJECT ${sources})
  set_target_properties(${name}_objects PROPERTIES POSITION_INDEPENDENT_CODE ON)
  target_include_directories(${name}_objects PRIVATE ${CMAKE_SOURCE_DIR} ${SHOP_PROTO_GEN_DIR}
                                                     ${SHOP_VERSION_INCLUDE_DIR})
  target_link_libraries(${name}_objects PRIVATE ${arg_PUBLIC} ${arg_PRIVATE})
  add_dependencies(${name}_objects shopproto) # generates the .pb-c.c files

  set(include_dirs $<BUILD_INTERFACE:${CMAKE_SOURCE_DIR}> $<BUILD_INTERFACE:${SHOP_VERSION_INCLUDE_DIR}>
                   $<INSTALL_INTERFACE:${SHOP_INSTALL_INCLUDEDIR}>)
  add_library(${name}_shared SHARED $<TARGET_OBJECTS:${name}_objects>)
  set_target_properties(${name}_shared PROPERTIES OUTPUT_NAME ${name} EXPORT_NAME ${name}
                        VERSION ${PROJECT_VERSION} SOVERSION ${PROJECT_VERSION_MAJOR}
                        LIBRARY_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/lib)
  # Every symbol the library uses must come from itself or a library it names.
  target_link_options(${name}_shared PRIVATE -Wl,--no-undefined)
  add_library(${name}_static STATIC $<TARGET_OBJECTS:${name}_objects>)
  set_target_properties(${name}_static PROPERTIES OUTPUT_NAME ${name} EXPORT_NAME ${name}_static
                        ARCHIVE_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/lib)
  foreach(kind shared static)
    target_include_directories(${name}_${kind} INTERFACE ${include_dirs})
    set(public)
    foreach(lib ${arg_PUBLIC})
      if(TARGET ${lib}_${kind}) # one of ours: the same kind
        set(lib ${lib}_${kind})
      endif()
      list(APPEND public ${lib})
    endforeach()
    target_link_libraries(${name}_${kind} PUBLIC ${public} PRIVATE ${arg_PRIVATE})
  endforeach()
  install(TARGETS ${name}_shared ${name}_static EXPORT shopflow-targets
          LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
          ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
  # pkg-config: relocatable, the prefix is found from the .pc file's folder.
  file(RELATIVE_PATH pc_to_prefix /P/${CMAKE_INSTALL_LIBDIR}/pkgconfig /P)
  string(REGEX REPLACE "/$" "" pc_to_prefix ${pc_to_prefix})
  configure_file(${CMAKE_SOURCE_DIR}/cmake/${name}.pc.in ${CMAKE_BINARY_DIR}/pkgconfig/${name}.pc @ONLY)
  install(FILES ${CMAKE_BINARY_DIR}/pkgconfig/${name}.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
  foreach(proto ${arg_PROTOS})
    install(FILES ${SHOP_PROTO_GEN_DIR}/${proto}.pb-c.h DESTINATION ${SHOP_INSTALL_INCLUDEDIR}/gen)
  endforeach()
endfunction()

# The RPC library carries the call envelope and the Health and Admin services
# every server answers.
shop_public_library(shoprpc FROM shopbase shoprpc PROTOS rpc health rpc_admin
                    PUBLIC PkgConfig::PROTOBUFC PRIVATE nng::nng Threads::Threads m)
shop_public_library(shopmq FROM shopmq mqdelay PROTOS mq mq_delay
                    PUBLIC shoprpc PRIVATE PkgConfig::PROTOBUFC PkgConfig::NATS nng::nng Threads::Threads)

install(FILES base/status.h base/error.h base/clock.h ${SHOP_VERSION_INCLUDE_DIR}/base/version.h
        DESTINATION ${SHOP_INSTALL_INCLUDEDIR}/base)
install(FILES rpc/rpc.h DESTINATION ${SHOP_INSTALL_INCLUDEDIR}/rpc)
install(FILES mq/mq.h mq/mq_delay.h DESTINATION ${SHOP_INSTALL_INCLUDEDIR}/mq)

install(EXPORT shopflow-targets NAMESPACE shopflow:: DESTINATION ${SHOP_INSTALL_CMAKEDIR})
configure_package_config_file(cmake/shopflow-config.cmake.in
                              ${CMAKE_BINARY_DIR}/cmake/shopflow-config.cmake
                              INSTALL_DESTINATION ${SHOP_INSTALL_CMAKEDIR}
                              PATH_VARS CMAKE_INSTALL_BINDIR)
write_basic_package_version_file(${CMAKE_BINARY_DIR}/cmake/shopflow-config-version.cmake
                                 COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_BINARY_DIR}/cmake/shopflow-config.cmake
              ${CMAKE_BINARY_DIR}/cmake/shopflow-config-version.cmake
        DESTINATION ${SHOP_INSTALL_CMAKEDIR})

# The programs, and the migrations the installed ones find in
# share/shopflow/sql/<svc> (base/paths.c). protoc-gen-shoprpc installs itself
# (rpc/CMakeLists.txt).
install(TARGETS shop-order shop-stock shop-coupon shop-async mq-broker mq-delayd shopflow
        RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
foreach(service order stock coupon)
  install(DIRECTORY services/${service}/sql/ DESTINATION ${CMAKE_INSTALL_DATADIR}/shopflow/sql/${service}
          FILES_MATCHING PATTERN "*.sql")
endforeach()
