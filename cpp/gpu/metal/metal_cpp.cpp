// The one translation unit that holds metal-cpp's definitions (its selector and
// class tables); every other file includes the headers only.
#define NS_PRIVATE_IMPLEMENTATION
#define MTL_PRIVATE_IMPLEMENTATION
#include <Foundation/Foundation.hpp>
#include <Metal/Metal.hpp>
