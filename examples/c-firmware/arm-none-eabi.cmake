# CMake toolchain file: Debian's arm-none-eabi-gcc for a QEMU Cortex-M board.
#   cmake -DCMAKE_TOOLCHAIN_FILE=arm-none-eabi.cmake -DBOARD=mps2-an386 ...
# BOARD picks the core's flags: microbit (Cortex-M0), mps2-an386 (M4F),
# mps2-an500 (M7), mps2-an505 (M33), mps3-an547 (M55). A firmware of your own
# sets its core's -mcpu/-mfpu/-mfloat-abi the same way; edgegru's CMake
# package reads -mcpu from the flags to pick its library.
set(CMAKE_SYSTEM_NAME Generic)
set(CMAKE_SYSTEM_PROCESSOR arm)
set(CMAKE_C_COMPILER arm-none-eabi-gcc)
set(CMAKE_CXX_COMPILER arm-none-eabi-g++)
set(CMAKE_TRY_COMPILE_TARGET_TYPE STATIC_LIBRARY)

if(NOT BOARD)
  set(BOARD mps2-an386)
endif()
if(BOARD STREQUAL "microbit")
  set(_core_flags "-mcpu=cortex-m0 -mthumb -mfloat-abi=soft")
elseif(BOARD STREQUAL "mps2-an386")
  set(_core_flags "-mcpu=cortex-m4 -mthumb -mfpu=fpv4-sp-d16 -mfloat-abi=hard")
elseif(BOARD STREQUAL "mps2-an500")
  set(_core_flags "-mcpu=cortex-m7 -mthumb -mfpu=fpv5-d16 -mfloat-abi=hard")
elseif(BOARD STREQUAL "mps2-an505")
  set(_core_flags "-mcpu=cortex-m33 -mthumb -mfpu=fpv5-sp-d16 -mfloat-abi=hard")
elseif(BOARD STREQUAL "mps3-an547")
  set(_core_flags "-mcpu=cortex-m55 -mthumb -mfloat-abi=hard")
else()
  message(FATAL_ERROR "unknown BOARD \"${BOARD}\": microbit, mps2-an386, mps2-an500, mps2-an505 or mps3-an547")
endif()
set(CMAKE_C_FLAGS_INIT "${_core_flags}")
set(CMAKE_CXX_FLAGS_INIT "${_core_flags}")
