# Fails unless README (-DREADME=...) contains the code of CODE (-DCODE=...) from its first
# #include line on, verbatim: the README's example is the compiled one.
file(READ "${README}" readme)
file(READ "${CODE}" code)
string(FIND "${code}" "#include" start)
string(SUBSTRING "${code}" ${start} -1 code)
string(FIND "${readme}" "${code}" found)
if(found EQUAL -1)
  message(FATAL_ERROR "${README} does not show the code of ${CODE} (from its first #include)")
endif()
message(STATUS "README shows ${CODE}")
