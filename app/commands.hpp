#pragma once
// One function per subcommand; each parses its options, calls the library and prints.
namespace vitc::cli {

int classify_command(int argc, char** argv);
int batch_command(int argc, char** argv);
int info_command(int argc, char** argv);
int bench_command(int argc, char** argv);
int explain_command(int argc, char** argv);
int compare_command(int argc, char** argv);
int train_command(int argc, char** argv);
int study_command(int argc, char** argv);
int merge_command(int argc, char** argv);
int convert_command(int argc, char** argv);

}  // namespace vitc::cli
