// Objects known by their base class, for naming heap blocks by vtable.
// At exit (or in --hold):
//   still reachable 1: a Circle, held by the global `current_shape`, whose
//                      DWARF type is only Shape *
//   definitely lost 5: three Squares and two Circles, no pointer left
// A Circle and a Square differ in size, so each lost group is one size.
#include <cstring>

#include "hold.h"

struct Shape {
    virtual ~Shape() {}
    virtual double area() const = 0;
    long id = 0;
};

struct Circle : Shape {
    double radius = 1.0;
    double area() const override { return 3.14159 * radius * radius; }
};

struct Square : Shape {
    double side = 2.0;
    double corners[6] = {};
    double area() const override { return side * side; }
};

Shape *current_shape;

// Opaque to the optimiser, so the objects are really made and dropped.
__attribute__((noipa)) static void lose(Shape *shape) { shape->id = -1; }

// Far below main's frame, so no spilled register keeps a lost pointer.
__attribute__((noinline)) static void lose_shapes()
{
    volatile char distance[4096];
    distance[0] = 0;
    for (int i = 0; i < 3; i++)
        lose(new Square());
    for (int i = 0; i < 2; i++)
        lose(new Circle());
    distance[1] = distance[0];
}

__attribute__((noinline)) static void scrub_stack()
{
    volatile char junk[16384];
    std::memset(const_cast<char *>(junk), 0, sizeof(junk));
}

int main(int argc, char **argv)
{
    current_shape = new Circle();
    lose_shapes();
    scrub_stack();
    if (!hold_if_asked(argc, argv))
        return 1;
    delete current_shape;
    return 0;
}
