// embed WEIGHTS_OR_RUN INPUT OUTPUT [--tile N]: translates one image with a trained generator through
// pix2pix.cpp's public API. WEIGHTS_OR_RUN is a run folder or a weights file (.pt, .safetensors, .pth).
#include <pix2pix/pix2pix.h>

#include <cstdlib>
#include <iostream>
#include <string>

int main(int argc, char** argv) {
  if (argc != 4 && !(argc == 6 && std::string(argv[4]) == "--tile")) {
    std::cerr << "usage: embed WEIGHTS_OR_RUN INPUT OUTPUT [--tile N]\n";
    return 2;
  }
  try {
    pix2pix::Options options;
    if (argc == 6) options.tile = std::atoll(argv[5]);
    const pix2pix::Translator translator(argv[1], options);
    translator.translate_file(argv[2], argv[3]);
    std::cout << "pix2pix " << pix2pix::version() << ": " << translator.architecture() << " translated " << argv[2]
              << " -> " << argv[3] << "\n";
  } catch (const pix2pix::Error& e) {
    std::cerr << "embed: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
