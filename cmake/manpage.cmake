# Write a man page from a program's --help text: cmake -DPROGRAM=path -DNAME=name
# -DSUMMARY=text -DVERSION=x.y.z -DOUT=file -P manpage.cmake. The --help text is the
# reference (it is printed from the option table), so the page cannot drift from it.
execute_process(COMMAND ${PROGRAM} --help OUTPUT_VARIABLE help ERROR_VARIABLE help_err
                RESULT_VARIABLE rc)
if(help STREQUAL "")
  set(help "${help_err}")
endif()
if(help STREQUAL "")
  message(FATAL_ERROR "${PROGRAM} --help printed nothing (exit ${rc})")
endif()
# troff: a backslash is an escape and a line starting with '.' or "'" is a request.
string(REPLACE "\\" "\\e" help "${help}")
string(REGEX REPLACE "(^|\n)([.'])" "\\1\\\\&\\2" help "${help}")
string(TIMESTAMP today "%Y-%m-%d" UTC)
file(WRITE ${OUT} ".TH ${NAME} 1 \"${today}\" \"${NAME} ${VERSION}\" \"User Commands\"
.SH NAME
${NAME} \\- ${SUMMARY}
.SH DESCRIPTION
The text below is the program's own --help output.
See /usr/share/doc/nrfprov-mock/ for the guides (install.md, control-api.md, ...).
.PP
.nf
${help}.fi
")
