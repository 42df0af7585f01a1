// keyward: the server and the operator CLI in one binary.
#include <iostream>

int main() {
  std::cout << "keyward 0.1.0\n";
  return 0;
}
