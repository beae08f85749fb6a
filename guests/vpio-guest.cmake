# Building vpio guests with CMake, inside vpio's tree (guests/CMakeLists.txt)
# or outside it (docs/guest-abi.md):
#   include(/path/to/the/kit/vpio-guest.cmake)
#   vpio_add_guest(hello hello.c)        # builds hello.img
# Each NAME.elf is linked from its sources and the runtime at 0x100000;
# NAME.img, its flat image, is what `vpio run` boots. The target
# vpio_guest_images builds them all.
set(VPIO_GUEST_KIT ${CMAKE_CURRENT_LIST_DIR})
# No libc, no SSE (the runtime saves no vector state), no red zone (interrupt
# handlers run on the guest's stack), addresses fixed by the linker script.
set(VPIO_GUEST_CFLAGS -ffreestanding -fno-pic -fno-pie -fno-stack-protector -mno-red-zone
    -mgeneral-regs-only -fno-asynchronous-unwind-tables -fno-builtin -O2 -Wall -Wextra)
set(VPIO_GUEST_RUNTIME ${VPIO_GUEST_KIT}/runtime/entry.S ${VPIO_GUEST_KIT}/runtime/vectors.S
    ${VPIO_GUEST_KIT}/runtime/runtime.c)
if(NOT TARGET vpio_guest_images)
  add_custom_target(vpio_guest_images ALL)
endif()

function(vpio_add_guest name)
  add_executable(${name}.elf ${ARGN} ${VPIO_GUEST_RUNTIME})
  target_include_directories(${name}.elf PRIVATE ${VPIO_GUEST_KIT})
  target_compile_options(${name}.elf PRIVATE ${VPIO_GUEST_CFLAGS})
  target_link_options(${name}.elf PRIVATE -nostdlib -static -no-pie -Wl,--build-id=none
                      -Wl,--no-warn-rwx-segments -Wl,-T,${VPIO_GUEST_KIT}/runtime/guest.ld)
  set_target_properties(${name}.elf PROPERTIES LINK_DEPENDS ${VPIO_GUEST_KIT}/runtime/guest.ld)
  add_custom_command(OUTPUT ${CMAKE_CURRENT_BINARY_DIR}/${name}.img
    COMMAND ${CMAKE_OBJCOPY} -O binary $<TARGET_FILE:${name}.elf>
            ${CMAKE_CURRENT_BINARY_DIR}/${name}.img
    DEPENDS ${name}.elf VERBATIM)
  add_custom_target(${name}_img DEPENDS ${CMAKE_CURRENT_BINARY_DIR}/${name}.img)
  add_dependencies(vpio_guest_images ${name}_img)
endfunction()
