/* Strings of the old libstdc++ ABI (built with -D_GLIBCXX_USE_CXX11_ABI=0
 * by clang++, which describes std::basic_string as a declaration only):
 * a type memprof cannot read without its definition, for the warning
 * that says so (test_string_types.py). */
#include <string>
#include <vector>

#include "hold.h"

struct Holder {
    int id;
    std::string name;
};

std::vector<Holder *> g_holders;

int main(int argc, char **argv)
{
    for (int i = 0; i < 20; i++) {
        Holder *h = new Holder{i, std::string()};
        h->name.reserve(1000);
        h->name.append("holder-name-").append(std::to_string(i));
        g_holders.push_back(h);
    }
    return hold_if_asked(argc, argv) ? 0 : 1;
}
