# edgegru C SDK: find_package(edgegru) gives the imported target
# edgegru::edgegru (the static library for the core, its headers, edgegru.h
# and edgegru.hpp).
#
# The library is chosen by EDGEGRU_CORE (a cache variable): cortex-m0,
# cortex-m4, cortex-m7, cortex-m33, cortex-m55, x86_64-linux or
# aarch64-linux. Without it, the core comes from the toolchain: -mcpu=... in
# CMAKE_C_FLAGS (or CMAKE_SYSTEM_PROCESSOR naming a Cortex-M core) for
# bare-metal builds, CMAKE_SYSTEM_PROCESSOR on Linux. EDGEGRU_LAYOUT=arm-dsp
# takes the library that also reads models in the arm-dsp layout (M4, M7,
# M33, M55); EDGEGRU_VARIANT=lean the library for integer-only, dense
# models of format versions 2 to 6, in the least code (Cortex-M cores). On
# hosts, edgegru::edgegru_shared is the shared library.

get_filename_component(_edgegru_prefix "${CMAKE_CURRENT_LIST_DIR}/../../.." ABSOLUTE)
set(EDGEGRU_CORE "" CACHE STRING "edgegru: the core to link for (cortex-m0, cortex-m4, cortex-m7, cortex-m33, cortex-m55, x86_64-linux, aarch64-linux); empty: from the toolchain")
set(EDGEGRU_LAYOUT "portable" CACHE STRING "edgegru: portable, or arm-dsp (models in the arm-dsp layout too; M4, M7, M33, M55)")
set(EDGEGRU_VARIANT "full" CACHE STRING "edgegru: full (every model), or lean (integer-only, dense models of format 2 to 6; Cortex-M)")
set(_edgegru_cores cortex-m0 cortex-m4 cortex-m7 cortex-m33 cortex-m55 x86_64-linux aarch64-linux)

set(_edgegru_core "${EDGEGRU_CORE}")
if(NOT _edgegru_core)
  string(TOLOWER "${CMAKE_C_FLAGS} ${CMAKE_CXX_FLAGS}" _edgegru_flags)
  string(TOLOWER "${CMAKE_SYSTEM_PROCESSOR}" _edgegru_processor)
  if(_edgegru_flags MATCHES "-mcpu=(cortex-m[0-9]+)(plus)?")
    set(_edgegru_core "${CMAKE_MATCH_1}")
  elseif(_edgegru_processor MATCHES "^(cortex-m[0-9]+)")
    set(_edgegru_core "${CMAKE_MATCH_1}")
  elseif(CMAKE_SYSTEM_NAME STREQUAL "Linux" AND _edgegru_processor MATCHES "^(x86_64|amd64)$")
    set(_edgegru_core "x86_64-linux")
  elseif(CMAKE_SYSTEM_NAME STREQUAL "Linux" AND _edgegru_processor MATCHES "^(aarch64|arm64)$")
    set(_edgegru_core "aarch64-linux")
  endif()
  if(_edgegru_core STREQUAL "cortex-m0" OR _edgegru_core STREQUAL "cortex-m0plus" OR _edgegru_core STREQUAL "cortex-m1")
    set(_edgegru_core "cortex-m0")
  endif()
endif()
if(NOT _edgegru_core IN_LIST _edgegru_cores)
  message(FATAL_ERROR "edgegru: no library for the core \"${_edgegru_core}\" (CMAKE_SYSTEM_PROCESSOR \"${CMAKE_SYSTEM_PROCESSOR}\", "
    "C flags \"${CMAKE_C_FLAGS}\"): set EDGEGRU_CORE to one of ${_edgegru_cores}")
endif()

set(_edgegru_dir "${_edgegru_core}")
if(EDGEGRU_LAYOUT STREQUAL "arm-dsp")
  set(_edgegru_dir "${_edgegru_core}-arm-dsp")
elseif(NOT EDGEGRU_LAYOUT STREQUAL "portable")
  message(FATAL_ERROR "edgegru: EDGEGRU_LAYOUT is \"${EDGEGRU_LAYOUT}\"; use portable or arm-dsp")
endif()
if(EDGEGRU_VARIANT STREQUAL "lean")
  set(_edgegru_dir "${_edgegru_dir}-lean")
elseif(NOT EDGEGRU_VARIANT STREQUAL "full")
  message(FATAL_ERROR "edgegru: EDGEGRU_VARIANT is \"${EDGEGRU_VARIANT}\"; use full or lean")
endif()
set(_edgegru_lib "${_edgegru_prefix}/lib/${_edgegru_dir}/libedgegru.a")
if(NOT EXISTS "${_edgegru_lib}")
  message(FATAL_ERROR "edgegru: this SDK has no ${EDGEGRU_VARIANT} ${EDGEGRU_LAYOUT} library for ${_edgegru_core} (${_edgegru_lib})")
endif()

if(NOT TARGET edgegru::edgegru)
  add_library(edgegru::edgegru STATIC IMPORTED)
  set_target_properties(edgegru::edgegru PROPERTIES
    IMPORTED_LOCATION "${_edgegru_lib}"
    INTERFACE_INCLUDE_DIRECTORIES "${_edgegru_prefix}/include")
  if(_edgegru_core MATCHES "linux$")
    set_property(TARGET edgegru::edgegru PROPERTY INTERFACE_LINK_LIBRARIES pthread dl m)
    add_library(edgegru::edgegru_shared SHARED IMPORTED)
    set_target_properties(edgegru::edgegru_shared PROPERTIES
      IMPORTED_LOCATION "${_edgegru_prefix}/lib/${_edgegru_core}/libedgegru.so"
      INTERFACE_INCLUDE_DIRECTORIES "${_edgegru_prefix}/include")
  endif()
endif()
set(EDGEGRU_CORE_FOUND "${_edgegru_core}")
set(edgegru_FOUND TRUE)
