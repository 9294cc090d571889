/* Placeholders for the C entry points NVIDIA's TensorRT Python bindings link against (scripts/trt_real.sh): enough
   for the real binding module to import and be introspected. Every call returns NULL or 0; nothing can run. */
void *createInferBuilder_INTERNAL(void *l, int v) { return 0; }
void *createInferRefitter_INTERNAL(void *e, void *l, int v) { return 0; }
void *createInferRuntime_INTERNAL(void *l, int v) { return 0; }
void *createNvOnnxParserRefitter_INTERNAL(void *r, void *l, int v) { return 0; }
void *createNvOnnxParser_INTERNAL(void *n, void *l, int v) { return 0; }
void *getBuilderPluginRegistry(int c) { return 0; }
int getNvOnnxParserVersion(void) { return 0; }
void *getPluginRegistry(void) { return 0; }
int initLibNvInferPlugins(void *l, const char *n) { return 0; }
int getInferLibVersion(void) { return 0; }
void *createInferBuilder(void) { return 0; }
#if TRT_MAJOR == 8
/* TensorRT 8.x's UFF and Caffe parsers (C++ names). */
void *uff_create(void) __asm__("_ZN11nvuffparser15createUffParserEv");
void *uff_create(void) { return 0; }
void uff_fieldmap(void) __asm__("_ZN11nvuffparser8FieldMapC1EPKcPKvNS_9FieldTypeEi");
void uff_fieldmap(void) {}
void *caffe_create(void) __asm__("_ZN14nvcaffeparser117createCaffeParserEv");
void *caffe_create(void) { return 0; }
void caffe_shutdown(void) __asm__("_ZN14nvcaffeparser123shutdownProtobufLibraryEv");
void caffe_shutdown(void) {}
#endif
