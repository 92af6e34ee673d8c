// Stub: the Objective-C runtime types and lookups metal-cpp uses (declarations only).
#pragma once
struct objc_class;
struct objc_object {  // complete: NS::Object derives from it
  struct objc_class* isa;
};
struct objc_selector;
typedef struct objc_object* id;
typedef struct objc_class* Class;
typedef struct objc_selector* SEL;
typedef struct objc_object Protocol;
extern "C" {
id objc_lookUpClass(const char* name);
SEL sel_registerName(const char* name);
Protocol* objc_getProtocol(const char* name);
}
