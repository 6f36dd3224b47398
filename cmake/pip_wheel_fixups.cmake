# Only used when building against ROS 2 from PyPI wheels (scripts/colcon_build.sh passes it as
# CMAKE_PROJECT_INCLUDE); a real ROS install never loads it.
#
# The message wheels' exported CMake targets name include folders of the machine that built them
# (/opt/python/cp311-cp311/include/python3.11 and .../site-packages/numpy/_core/include), and the
# generate step fails while those folders are missing. Rather than creating them outside the
# project, point those entries at this interpreter's folders once every find_package() has run.
find_package(Python3 REQUIRED COMPONENTS Interpreter Development NumPy)

function(_elf_ros_fix_wheel_include_dirs)
  get_directory_property(_targets DIRECTORY "${CMAKE_SOURCE_DIR}" IMPORTED_TARGETS)
  foreach(_target IN LISTS _targets)
    get_target_property(_dirs ${_target} INTERFACE_INCLUDE_DIRECTORIES)
    if(NOT _dirs)
      continue()
    endif()
    set(_fixed "")
    foreach(_dir IN LISTS _dirs)
      if(_dir MATCHES "^/opt/python/cp[0-9]+-cp[0-9]+/include/python3" AND NOT EXISTS "${_dir}")
        set(_dir "${Python3_INCLUDE_DIRS}")
      elseif(_dir MATCHES "/site-packages/numpy/_core/include$" AND NOT EXISTS "${_dir}")
        set(_dir "${Python3_NumPy_INCLUDE_DIRS}")
      endif()
      list(APPEND _fixed "${_dir}")
    endforeach()
    set_target_properties(${_target} PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "${_fixed}")
  endforeach()
endfunction()

cmake_language(DEFER DIRECTORY "${CMAKE_SOURCE_DIR}" CALL _elf_ros_fix_wheel_include_dirs)
